"""Logging set-up: one line per event, quiet by default, secrets never written.

Two formats (``log_format`` in the configuration):

* ``text`` (default): logfmt, ``ts=... level=info logger=jobs.collect event=...
  feed=kun new=3`` — lines written with :func:`jobs.telemetry.log_event` keep their
  stable keys; any other library's line becomes ``msg="..."``;
* ``json``: one JSON object per line with the same keys.

An exception's traceback stays on the same line (``exc="..."``, newlines escaped), so
one event is always one line.

Libraries log request URLs (httpx logs every Bot API call, whose URL contains the bot
token) and database URLs can carry passwords, so every record passes a filter that
replaces the configured secrets with ``***`` before it is formatted, and the
formatted line is checked once more (a secret inside an event's fields, a traceback).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

from jobs.telemetry import EVENT_ATTR, FIELDS_ATTR, logfmt

REDACTED = "***"
LogFormat = Literal["text", "json"]


def _secret_list(secrets: Iterable[str]) -> tuple[str, ...]:
    # Short strings would blank out ordinary words; real secrets are long.
    return tuple(sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True))


class RedactSecrets(logging.Filter):
    """Replace every occurrence of the given secrets in a record's final message."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = _secret_list(secrets)

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


class StructuredFormatter(logging.Formatter):
    """Formats a record as one logfmt (``text``) or JSON (``json``) line."""

    def __init__(self, fmt: LogFormat = "text", secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._json = fmt == "json"
        self._secrets = _secret_list(secrets)

    def format(self, record: logging.LogRecord) -> str:
        pairs: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        event = getattr(record, EVENT_ATTR, None)
        fields = getattr(record, FIELDS_ATTR, None)
        if isinstance(event, str) and isinstance(fields, dict):
            pairs["event"] = event
            pairs.update({k: v for k, v in fields.items() if k not in pairs})
        else:
            pairs["msg"] = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            pairs["exc"] = record.exc_text
        if record.stack_info:
            pairs["stack"] = self.formatStack(record.stack_info)
        line = json.dumps(pairs, default=str, ensure_ascii=False) if self._json else logfmt(pairs)
        for secret in self._secrets:
            line = line.replace(secret, REDACTED)
        return line


class _SteppeHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler :func:`configure_logging` installed."""


#: Libraries that log every request (httpx: the Bot API URL with the token) or every
#: scheduler tick: shown from WARNING up unless the operator asks for DEBUG.
NOISY_LOGGERS = ("httpx", "httpcore", "apscheduler", "alembic")


def configure_logging(level: str, secrets: Iterable[str] = (), *, fmt: LogFormat = "text") -> None:
    """Send logs to stderr at ``level`` in format ``fmt``; noisy libraries only from
    WARNING up (even at DEBUG, where a per-request line would bury the events)."""
    secret_list = list(secrets)
    handler = _SteppeHandler(sys.stderr)
    handler.setFormatter(StructuredFormatter(fmt, secret_list))
    handler.addFilter(RedactSecrets(secret_list))
    root = logging.getLogger()
    # Replace only our own handler, so repeated set-up (tests, reloads) does not stack.
    for old in [h for h in root.handlers if isinstance(h, _SteppeHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
