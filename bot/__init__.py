"""Telegram side of Steppe Digest: CLI entry point, configuration and wiring."""
