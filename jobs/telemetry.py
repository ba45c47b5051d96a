"""Operational events: structured log lines and the process's own counters.

Both jobs and bot import this module (jobs never import bot), so it holds no
formatting policy and no Prometheus: :mod:`bot.logs` formats the records and
:mod:`bot.metrics` exposes the counters.

* :func:`log_event` writes one line per event with stable keys (``feed=``, ``chat=``,
  ``edition=``, ...): the record's message is already ``key=value`` text, and the
  record carries the event and its fields for the JSON format.
* :data:`COUNTERS` counts what the store does not record: Telegram's error answers by
  kind, and what each collection run brought. Thread-safe; per process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Final

#: Attributes :func:`log_event` sets on a :class:`logging.LogRecord`.
EVENT_ATTR: Final = "steppe_event"
FIELDS_ATTR: Final = "steppe_fields"

#: Kinds of Telegram error answers counted (label ``kind`` of the metric).
TELEGRAM_ERROR_KINDS: Final = ("429", "403", "400_parse", "400_other", "5xx", "timeout")


def log_event(
    logger: logging.Logger,
    event: str,
    /,
    *,
    level: int = logging.INFO,
    exc_info: bool = False,
    **fields: object,
) -> None:
    """Log ``event`` with ``fields`` as one ``event=... key=value ...`` line.

    Use stable, lower-case keys (``feed``, ``chat``, ``edition``, ``error``, counts);
    ``None`` values are left out. Per-feed and per-chat lines go at DEBUG, run
    summaries at INFO, problems at WARNING or ERROR.
    """
    if not logger.isEnabledFor(level):
        return
    kept = {key: value for key, value in fields.items() if value is not None}
    logger.log(
        level,
        "%s",
        logfmt({"event": event, **kept}),
        exc_info=exc_info,
        extra={EVENT_ATTR: event, FIELDS_ATTR: kept},
        stacklevel=2,
    )


def logfmt(pairs: Mapping[str, object]) -> str:
    """``key=value`` pairs joined by spaces; values quoted when they need it."""
    return " ".join(f"{key}={logfmt_value(value)}" for key, value in pairs.items())


def logfmt_value(value: object) -> str:
    """One logfmt value: bare when it can be, else double-quoted with escapes."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, datetime):
        text = value.isoformat()
    elif isinstance(value, float):
        text = f"{value:g}"
    else:
        text = str(value)
    if text and not any(c in text for c in ' ="\\') and text.isprintable():
        return text
    escaped = (
        text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    )
    return f'"{escaped}"'


class Counters:
    """Monotonic counters keyed by name and label values; safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def get(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._values.get((name, tuple(sorted(labels.items()))), 0.0)

    def snapshot(self) -> Mapping[tuple[str, tuple[tuple[str, str], ...]], float]:
        """A copy of every counter: ``(name, ((label, value), ...)) -> count``."""
        with self._lock:
            return MappingProxyType(dict(self._values))

    def reset(self) -> None:
        """Forget every count (tests)."""
        with self._lock:
            self._values.clear()


#: The process's counters (exposed by :mod:`bot.metrics`).
COUNTERS: Final = Counters()

TELEGRAM_ERRORS: Final = "telegram_errors"
COLLECTION_RUNS: Final = "collection_runs"
ARTICLES_COLLECTED: Final = "articles_collected"
ARTICLES_UPDATED: Final = "articles_updated"
FEED_FAILURES: Final = "feed_failures"
ARTICLES_PRUNED: Final = "articles_pruned"


def count_telegram_error(kind: str) -> None:
    """Count one Telegram error answer; ``kind`` is one of :data:`TELEGRAM_ERROR_KINDS`."""
    if kind not in TELEGRAM_ERROR_KINDS:
        raise ValueError(f"unknown Telegram error kind {kind!r}")
    COUNTERS.inc(TELEGRAM_ERRORS, kind=kind)


def count_collection(*, new: int, updated: int, failed: int, pruned: int = 0) -> None:
    """Count one finished collection run, what it brought and what it deleted."""
    COUNTERS.inc(COLLECTION_RUNS)
    COUNTERS.inc(ARTICLES_COLLECTED, new)
    COUNTERS.inc(ARTICLES_UPDATED, updated)
    COUNTERS.inc(FEED_FAILURES, failed)
    COUNTERS.inc(ARTICLES_PRUNED, pruned)


__all__ = [
    "ARTICLES_COLLECTED",
    "ARTICLES_PRUNED",
    "ARTICLES_UPDATED",
    "COLLECTION_RUNS",
    "COUNTERS",
    "EVENT_ATTR",
    "FEED_FAILURES",
    "FIELDS_ATTR",
    "TELEGRAM_ERRORS",
    "TELEGRAM_ERROR_KINDS",
    "Counters",
    "count_collection",
    "count_telegram_error",
    "log_event",
    "logfmt",
    "logfmt_value",
]
