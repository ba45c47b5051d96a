"""Telegram's sending limits as arithmetic: when may the next message go?

A :class:`RateLimiter` hands out *reservations*: :meth:`RateLimiter.reserve` returns
the instant a message may be sent and books it, so the caller sleeps until then (or a
test just reads the instants). No clock is read here; ``now`` is always passed in.

The limits (Telegram's FAQ for bots): about 30 messages per second overall (up to 1000
with paid broadcasts), one message per second in a chat, 20 messages per minute in a
group. The overall limit is a grid of *slots* 1/rate apart, each carrying at most one
message: that reaches the rate without the bursts that earn a 429. A message the chat's
own limits hold back takes the first free slot after that, and the slots before it stay
free for other chats (booking a chat's second message a second ahead must not make
everyone else wait a second). A 429's ``retry_after`` pauses everything.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

#: Chats whose last reservation is older than this are forgotten (memory stays flat).
_FORGET_AFTER = timedelta(minutes=2)
_PRUNE_EVERY = 10_000
_MICROSECOND = timedelta(microseconds=1)


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
        self._origin: datetime | None = None
        self._cursor = 0
        """The first slot that may still be free; every slot before it is taken or past."""
        self._booked: set[int] = set()
        """Slots at or after the cursor that are taken."""
        self._next_chat: dict[int, datetime] = {}
        self._group_window: dict[int, deque[datetime]] = {}
        self._paused_until: datetime | None = None
        self._since_prune = 0

    def reserve(self, chat_id: int, *, group: bool, now: datetime) -> datetime:
        """Book the earliest instant at or after ``now`` when a message to ``chat_id``
        keeps every limit, and return it."""
        at = now
        for bound in (self._next_chat.get(chat_id), self._paused_until):
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
        at = self._take_slot(at, now)
        if group:
            self._group_window[chat_id].append(at)
        self._next_chat[chat_id] = at + self.limits.chat_interval
        self._prune(now)
        return at

    def sent(self, chat_id: int, *, at: datetime) -> None:
        """A message to ``chat_id`` actually left at ``at`` (later than booked when the
        sender fell behind): the chat's next one keeps its interval from then."""
        following = at + self.limits.chat_interval
        booked = self._next_chat.get(chat_id)
        if booked is None or following > booked:
            self._next_chat[chat_id] = following

    def pause(self, until: datetime) -> None:
        """Telegram answered 429: nothing goes out before ``until``."""
        if self._paused_until is None or until > self._paused_until:
            self._paused_until = until

    def _take_slot(self, earliest: datetime, now: datetime) -> datetime:
        """Book the first free slot at or after ``earliest`` and return its instant."""
        if self._origin is None:
            self._origin = now
        # Slots before ``now`` are past: a sender that fell behind starts again from
        # now rather than sending the missed slots in a burst.
        self._advance(self._slot_at_or_after(now))
        slot = max(self._cursor, self._slot_at_or_after(earliest))
        while slot in self._booked:
            slot += 1
        if slot == self._cursor:
            self._advance(slot + 1)
        else:
            self._booked.add(slot)
        return self._instant(slot)

    def _instant(self, slot: int) -> datetime:
        """Slot ``n`` is ``n / rate`` seconds after the origin, rounded up to the
        microsecond: any ``rate`` consecutive slots span at least a second."""
        assert self._origin is not None
        micros = math.ceil(slot * 1_000_000 / self.limits.per_second)
        return self._origin + timedelta(microseconds=micros)

    def _slot_at_or_after(self, moment: datetime) -> int:
        assert self._origin is not None
        micros = (moment - self._origin) // _MICROSECOND
        if micros <= 0:
            return 0
        slot = math.ceil(micros * self.limits.per_second / 1_000_000)
        # Float rounding can be one off either way: settle on the exact first slot.
        while slot > 0 and self._instant(slot - 1) >= moment:
            slot -= 1
        while self._instant(slot) < moment:
            slot += 1
        return slot

    def _advance(self, slot: int) -> None:
        """Move the cursor to ``slot`` at least, then past any booked slots (the ones
        left behind are dropped by :meth:`_prune`)."""
        self._cursor = max(self._cursor, slot)
        while self._cursor in self._booked:
            self._booked.discard(self._cursor)
            self._cursor += 1

    def _prune(self, now: datetime) -> None:
        self._since_prune += 1
        if self._since_prune < _PRUNE_EVERY:
            return
        self._since_prune = 0
        horizon = now - _FORGET_AFTER
        self._next_chat = {c: t for c, t in self._next_chat.items() if t > horizon}
        self._booked = {slot for slot in self._booked if slot >= self._cursor}
        self._group_window = {c: w for c, w in self._group_window.items() if w and w[-1] > horizon}


def connections_for(per_second: float, *, latency: timedelta = timedelta(milliseconds=250)) -> int:
    """HTTP connections (and concurrent sends) to sustain ``per_second`` messages when
    one request takes ``latency``: Little's law with half again as headroom, at least 4
    and at most 512 (beyond that the rate, not the connections, is the limit)."""
    needed = per_second * latency.total_seconds() * 1.5
    return max(4, min(512, math.ceil(needed)))
