"""When a chat's digest is due: pure arithmetic on local dates, times and IANA zones.

The schedule is data: a chat stores the UTC instant of its next digest, computed here
from its wall-clock ``HH:MM`` and time zone *for one local date at a time*, with the
zone rules :mod:`zoneinfo` has now. So:

* across a DST change the digest stays at the same local time (07:00 is 07:00 in winter
  and in summer); a time the clocks skip (02:30 on a spring-forward night) is delivered
  as the clocks read after the jump (03:30), and a time that happens twice (autumn) is
  delivered the first time;
* after a zone-rule change (Kazakhstan moved from UTC+6 to UTC+5 on 2024-03-01) the
  slot of each date follows the rules in force on that date; a stored instant computed
  under old rules is checked against :func:`slot` before sending (see
  :func:`jobs.digest.dispatch`), and every stored instant is recomputed at start-up.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from storage.records import ChatSchedule, Opening, SchedulePlan

#: Missed dates recorded as skipped after a long downtime, at most (older ones are not
#: recorded at all: a month offline should not write thirty rows per chat).
MAX_RECORDED_MISSES = 7


def slot(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant at which the wall clock in ``zone`` reads ``at`` on ``day``.

    A wall time the clocks skip maps to the instant after the jump by the same amount
    (``fold=0`` with the offset from before the change, as :pep:`495` defines); a wall
    time that occurs twice maps to its first occurrence.
    """
    local = datetime.combine(day, at.replace(tzinfo=None, fold=0), tzinfo=zone)
    return local.astimezone(UTC)


def local_date(moment: datetime, zone: ZoneInfo) -> date:
    """The calendar date in ``zone`` at the instant ``moment``."""
    return moment.astimezone(zone).date()


def slots_from(day: date, at: time, zone: ZoneInfo) -> Iterator[tuple[date, datetime]]:
    """``(date, slot)`` for ``day`` and every following date."""
    while True:
        yield day, slot(day, at, zone)
        day += timedelta(days=1)


def next_slot(after: datetime, at: time, zone: ZoneInfo) -> tuple[date, datetime]:
    """The first ``(local date, instant)`` with an instant strictly after ``after``."""
    start = local_date(after, zone) - timedelta(days=1)
    for day, instant in slots_from(start, at, zone):
        if instant > after:
            return day, instant
    raise AssertionError("unreachable")  # pragma: no cover


def plan(schedule: ChatSchedule, now: datetime, *, grace: timedelta) -> SchedulePlan:
    """The scheduler's decision for one chat that is due at ``now`` (or never planned).

    A never-planned chat (``next_digest_at`` is ``None``: new, or its time, zone or
    pause changed) just gets its next slot: its first digest comes at its chosen time,
    not the moment it subscribes. A due chat gets a ledger row for every date whose
    slot has passed since ``next_digest_at``: the ones due within ``grace`` of ``now``
    to send (late, after downtime), older ones recorded as skipped; then its next slot.

    The dates come from the stored instant, re-read in the zone's *current* rules: if
    the rules changed since it was computed, the date is the same and the slot is
    recomputed (a slot still in the future is not opened yet, just rescheduled).
    """
    zone = ZoneInfo(schedule.timezone)
    at = schedule.delivery_time
    if schedule.next_digest_at is None:
        _day, upcoming = next_slot(now - timedelta(seconds=1), at, zone)
        return SchedulePlan(schedule.chat_id, None, upcoming)
    first = _meant_date(schedule.next_digest_at, at, zone)
    openings: list[Opening] = []
    for day, instant in slots_from(first, at, zone):
        if instant > now:
            return SchedulePlan(
                schedule.chat_id,
                schedule.next_digest_at,
                instant,
                tuple(openings[-MAX_RECORDED_MISSES - 1 :]),
            )
        openings.append(Opening(day, instant, skipped=now - instant > grace))
    raise AssertionError("unreachable")  # pragma: no cover


def _meant_date(stored: datetime, at: time, zone: ZoneInfo) -> date:
    """The local date a stored slot was computed for. Under unchanged rules it is the
    date of the instant; if the rules changed since, it is the date whose current slot
    is nearest to the stored instant (an offset change moves a slot by hours, not days).
    """
    day = local_date(stored, zone)
    if slot(day, at, zone) == stored:
        return day
    candidates = (day - timedelta(days=1), day, day + timedelta(days=1))
    return min(candidates, key=lambda d: abs(slot(d, at, zone) - stored))
