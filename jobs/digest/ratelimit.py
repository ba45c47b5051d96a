"""Telegram's sending limits as arithmetic: when may the next message go?

A :class:`RateLimiter` hands out *reservations*: :meth:`RateLimiter.reserve` returns
the instant a message may be sent and books it, so the caller sleeps until then (or a
test just reads the instants). No clock is read here; ``now`` is always passed in.

The limits (Telegram's FAQ for bots): about 30 messages per second overall (up to 1000
with paid broadcasts), one message per second in a chat, 20 messages per minute in a
group. The overall limit is a steady spacing (1/rate apart), which reaches the rate
without the bursts that earn a 429; a 429's ``retry_after`` pauses everything.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

#: Chats whose last reservation is older than this are forgotten (memory stays flat).
_FORGET_AFTER = timedelta(minutes=2)
_PRUNE_EVERY = 10_000


@dataclass(frozen=True, slots=True)
class Limits:
    """Sending limits (``[delivery]`` in the configuration)."""

    per_second: float = 30.0
    """Messages per second overall (1000 with Telegram's paid broadcasts)."""
    chat_interval: timedelta = timedelta(seconds=1)
    """Least time between two messages to one chat."""
    group_per_minute: int = 20
    """Most messages to one group (or supergroup, or channel) in any 60 seconds."""


class RateLimiter:
    """Reservations under :class:`Limits`. Not thread-safe: one per dispatcher loop."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        # Rounded up to whole microseconds (timedelta's unit): never above the rate.
        self._spacing = timedelta(microseconds=math.ceil(1_000_000 / limits.per_second))
        self._next_any: datetime | None = None
        self._next_chat: dict[int, datetime] = {}
        self._group_window: dict[int, deque[datetime]] = {}
        self._paused_until: datetime | None = None
        self._since_prune = 0

    def reserve(self, chat_id: int, *, group: bool, now: datetime) -> datetime:
        """Book the earliest instant at or after ``now`` when a message to ``chat_id``
        keeps every limit, and return it."""
        at = now
        for bound in (self._next_any, self._next_chat.get(chat_id), self._paused_until):
            if bound is not None and bound > at:
                at = bound
        if group:
            window = self._group_window.setdefault(chat_id, deque())
            minute = timedelta(minutes=1)
            while window and window[0] <= at - minute:
                window.popleft()
            if len(window) >= self.limits.group_per_minute:
                at = max(at, window[0] + minute)
                while window and window[0] <= at - minute:
                    window.popleft()
            window.append(at)
        self._next_any = at + self._spacing
        self._next_chat[chat_id] = at + self.limits.chat_interval
        self._prune(now)
        return at

    def pause(self, until: datetime) -> None:
        """Telegram answered 429: nothing goes out before ``until``."""
        if self._paused_until is None or until > self._paused_until:
            self._paused_until = until

    def _prune(self, now: datetime) -> None:
        self._since_prune += 1
        if self._since_prune < _PRUNE_EVERY:
            return
        self._since_prune = 0
        horizon = now - _FORGET_AFTER
        self._next_chat = {c: t for c, t in self._next_chat.items() if t > horizon}
        self._group_window = {c: w for c, w in self._group_window.items() if w and w[-1] > horizon}


def connections_for(per_second: float, *, latency: timedelta = timedelta(milliseconds=250)) -> int:
    """HTTP connections (and concurrent sends) to sustain ``per_second`` messages when
    one request takes ``latency``: Little's law with half again as headroom, at least 4
    and at most 512 (beyond that the rate, not the connections, is the limit)."""
    needed = per_second * latency.total_seconds() * 1.5
    return max(4, min(512, math.ceil(needed)))
