"""A fake Telegram Bot API server on loopback, for the tests and for ``steppe demo``.

It speaks the real HTTP protocol (``/bot<token>/<method>``, JSON or form bodies, the
``ok``/``result``/``error_code``/``description``/``parameters`` envelope), validates
what Telegram validates (HTML markup, 4096 characters, 64-byte callback data) and lets
the caller play the users: send messages, press buttons, block the bot, inject faults.
"""

from bot.fake_api.html import MarkupError, parse_html
from bot.fake_api.server import BotMessage, FakeBotApi, Fault

__all__ = ["BotMessage", "FakeBotApi", "Fault", "MarkupError", "parse_html"]
