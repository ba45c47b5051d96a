"""Logging set-up: one line per event, quiet by default, secrets never written.

Libraries log request URLs (httpx logs every Bot API call, whose URL contains the bot
token) and database URLs can carry passwords, so every record passes a filter that
replaces the configured secrets with ``***`` before it is formatted.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REDACTED = "***"


class RedactSecrets(logging.Filter):
    """Replace every occurrence of the given secrets in a record's final message."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Short strings would blank out ordinary words; real secrets are long.
        self._secrets = tuple(sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True))

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        redacted = message
        for secret in self._secrets:
            redacted = redacted.replace(secret, REDACTED)
        if record.exc_info and record.exc_text is None:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            for secret in self._secrets:
                record.exc_text = record.exc_text.replace(secret, REDACTED)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class _SteppeHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler :func:`configure_logging` installed."""


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    """Send logs to stderr at ``level``; noisy libraries only from WARNING up."""
    handler = _SteppeHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    # Replace only our own handler, so repeated set-up (tests, reloads) does not stack.
    for old in [h for h in root.handlers if isinstance(h, _SteppeHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
