"""When to fetch a feed next: pure decisions from its fetch history.

A healthy feed is fetched every ``interval``, or less often when its outlet says the
feed stays current longer (HTTP caching headers, RSS ``<ttl>``: see
:func:`refresh_hint`). A failing one is retried less and less often (exponential
backoff, capped) so a dead site costs little, and a server's ``Retry-After`` is
honoured when it asks for more patience than our own schedule.
Every datetime here is timezone-aware; naive ones are refused.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

__all__ = [
    "DEFAULT_MAX_BACKOFF",
    "RETRY_AFTER_CEILING",
    "is_due",
    "next_attempt_at",
    "refresh_hint",
]

DEFAULT_MAX_BACKOFF = timedelta(hours=6)
#: Longest ``Retry-After`` honoured: an absurd value must not park a feed forever.
RETRY_AFTER_CEILING = timedelta(days=7)

# 2**60 times any sensible interval is far beyond any cap; bounding the exponent keeps
# the arithmetic finite however long a feed has been failing.
_MAX_EXPONENT = 60


def next_attempt_at(
    now: datetime,
    *,
    interval: timedelta,
    consecutive_failures: int,
    retry_after: float | None = None,
    max_backoff: timedelta = DEFAULT_MAX_BACKOFF,
    hint: timedelta | None = None,
) -> datetime:
    """The earliest time the feed should be fetched again.

    * ``consecutive_failures == 0`` (the last attempt succeeded): ``now + interval``,
      or ``now + hint`` when the outlet's :func:`refresh_hint` is longer.
    * ``n > 0`` failures in a row: ``now + min(interval * 2**(n-1), max_backoff)``; so
      1 failure waits one interval, 2 wait two, 3 wait four... up to ``max_backoff``.
      (With ``interval`` above ``max_backoff`` a failing feed is retried sooner than
      its regular interval, which is intended: a failure may be a passing blip.)
    * ``retry_after`` (seconds, from the server) wins when it is later; it is capped
      at :data:`RETRY_AFTER_CEILING`, and negative or non-finite values are ignored.

    Raises :class:`ValueError` for a naive ``now``, a non-positive ``interval`` or
    ``max_backoff``, or negative ``consecutive_failures`` (programming errors).
    """
    _require_aware(now, "now")
    if interval <= timedelta(0):
        raise ValueError(f"interval must be positive, got {interval}")
    if max_backoff <= timedelta(0):
        raise ValueError(f"max_backoff must be positive, got {max_backoff}")
    if consecutive_failures < 0:
        raise ValueError(f"consecutive_failures must not be negative, got {consecutive_failures}")

    if consecutive_failures == 0:
        delay = interval if hint is None else max(interval, hint)
    else:
        exponent = min(consecutive_failures - 1, _MAX_EXPONENT)
        # Compare in float seconds first: timedelta multiplication would overflow for a
        # long failure run; below the cap the exact timedelta product is safe.
        if interval.total_seconds() * 2.0**exponent >= max_backoff.total_seconds():
            delay = max_backoff
        else:
            delay = interval * 2**exponent

    if retry_after is not None and math.isfinite(retry_after) and retry_after > 0:
        asked = min(timedelta(seconds=retry_after), RETRY_AFTER_CEILING)
        delay = max(delay, asked)
    return now + delay


def refresh_hint(
    *, fresh_for: float | None, ttl: timedelta | None, ceiling: timedelta
) -> timedelta | None:
    """How long the outlet asked for its feed not to be fetched again, at most
    ``ceiling``; ``None`` when it asked nothing (or ``ceiling`` is zero: hints off).

    ``fresh_for`` is what the last response declared, in seconds (``Cache-Control:
    max-age`` less ``Age``, else ``Expires`` less ``Date``: see
    :func:`jobs.fetch.parse_freshness`); ``ttl`` is the feed's own RSS ``<ttl>``. The
    longer one counts: each is the publisher saying how long the document stays
    current, and asking again sooner only costs them. ``ceiling`` keeps a careless
    "one day" from leaving a news feed a day behind. Zero or negative values, NaN and
    infinity say nothing.
    """
    if ceiling <= timedelta(0):
        return None
    longest = 0.0
    if fresh_for is not None and math.isfinite(fresh_for):
        longest = max(longest, fresh_for)
    if ttl is not None:
        longest = max(longest, ttl.total_seconds())
    if longest <= 0:
        return None
    # Compared in seconds first: a huge value cannot overflow timedelta this way.
    if longest >= ceiling.total_seconds():
        return ceiling
    return timedelta(seconds=longest)


def is_due(next_attempt_at: datetime | None, now: datetime) -> bool:
    """Whether a feed scheduled for ``next_attempt_at`` should be fetched at ``now``.

    ``None`` (never scheduled: new feed) is always due; otherwise due once
    ``now >= next_attempt_at``. Raises :class:`ValueError` for naive datetimes.
    """
    _require_aware(now, "now")
    if next_attempt_at is None:
        return True
    _require_aware(next_attempt_at, "next_attempt_at")
    return now >= next_attempt_at


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
