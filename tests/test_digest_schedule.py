"""Each chat's next delivery time: its local HH:MM, across DST and zone-rule changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from jobs.digest.schedule import next_slot, plan, slot
from storage.records import ChatSchedule, Opening

ALMATY = ZoneInfo("Asia/Almaty")
TASHKENT = ZoneInfo("Asia/Tashkent")
NEW_YORK = ZoneInfo("America/New_York")
GRACE = timedelta(hours=6)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_the_same_local_time_in_three_zones() -> None:
    day = date(2026, 11, 20)
    assert slot(day, time(8, 0), ALMATY) == utc(2026, 11, 20, 3, 0)  # UTC+5 since 2024
    assert slot(day, time(9, 30), TASHKENT) == utc(2026, 11, 20, 4, 30)
    assert slot(day, time(7, 0), NEW_YORK) == utc(2026, 11, 20, 12, 0)  # EST


def test_new_york_keeps_seven_oclock_across_both_dst_changes() -> None:
    seven = time(7, 0)
    # Autumn 2026: clocks go back on 1 November; spring 2027: forward on 14 March.
    assert next_slot(utc(2026, 10, 31, 12), seven, NEW_YORK) == (
        date(2026, 11, 1),
        utc(2026, 11, 1, 12, 0),
    )
    assert slot(date(2026, 10, 31), seven, NEW_YORK) == utc(2026, 10, 31, 11, 0)  # EDT
    assert slot(date(2027, 3, 13), seven, NEW_YORK) == utc(2027, 3, 13, 12, 0)  # EST
    assert slot(date(2027, 3, 14), seven, NEW_YORK) == utc(2027, 3, 14, 11, 0)  # EDT


def test_a_skipped_time_comes_after_the_jump_and_a_repeated_one_once() -> None:
    # 02:30 does not exist on 14 March 2027 in New York: delivered at 03:30 EDT.
    gap = slot(date(2027, 3, 14), time(2, 30), NEW_YORK)
    assert gap == utc(2027, 3, 14, 7, 30)
    assert gap.astimezone(NEW_YORK).strftime("%H:%M") == "03:30"
    # 01:30 happens twice on 1 November 2026: the first one (EDT).
    assert slot(date(2026, 11, 1), time(1, 30), NEW_YORK) == utc(2026, 11, 1, 5, 30)


def test_the_kazakhstan_zone_change_of_march_2024() -> None:
    # Almaty moved from UTC+6 to UTC+5 on 1 March 2024: 08:00 stays 08:00 local.
    eight = time(8, 0)
    assert slot(date(2024, 2, 29), eight, ALMATY) == utc(2024, 2, 29, 2, 0)
    assert slot(date(2024, 3, 1), eight, ALMATY) == utc(2024, 3, 1, 3, 0)


def test_a_slot_stored_under_old_rules_is_rescheduled_not_sent_early() -> None:
    # Stored as 02:00 UTC (08:00 at UTC+6) for a date now at UTC+5: due at 03:00 UTC.
    stored = ChatSchedule(1, "Asia/Almaty", time(8, 0), utc(2024, 3, 1, 2, 0))
    early = plan(stored, utc(2024, 3, 1, 2, 30), grace=GRACE)
    assert early.openings == ()
    assert early.next_digest_at == utc(2024, 3, 1, 3, 0)
    due = plan(stored, utc(2024, 3, 1, 3, 0), grace=GRACE)
    assert due.openings == (Opening(date(2024, 3, 1), utc(2024, 3, 1, 3, 0)),)


def test_a_new_chat_waits_for_its_time() -> None:
    chat = ChatSchedule(1, "Asia/Tashkent", time(9, 30), None)
    before = plan(chat, utc(2026, 11, 20, 4, 0), grace=GRACE)
    assert (before.openings, before.next_digest_at) == ((), utc(2026, 11, 20, 4, 30))
    after = plan(chat, utc(2026, 11, 20, 5, 0), grace=GRACE)
    assert after.next_digest_at == utc(2026, 11, 21, 4, 30)


def test_after_downtime_recent_days_are_sent_late_and_older_ones_skipped() -> None:
    chat = ChatSchedule(1, "Asia/Almaty", time(8, 0), utc(2026, 11, 18, 3, 0))
    # Back at 07:00 UTC on the 20th: the 20th is 4 h late (sent), the 18th and 19th skipped.
    decided = plan(chat, utc(2026, 11, 20, 7, 0), grace=GRACE)
    assert decided.openings == (
        Opening(date(2026, 11, 18), utc(2026, 11, 18, 3, 0), skipped=True),
        Opening(date(2026, 11, 19), utc(2026, 11, 19, 3, 0), skipped=True),
        Opening(date(2026, 11, 20), utc(2026, 11, 20, 3, 0), skipped=False),
    )
    assert decided.next_digest_at == utc(2026, 11, 21, 3, 0)
    assert decided.expected == utc(2026, 11, 18, 3, 0)


def test_a_month_offline_records_at_most_a_week_of_misses() -> None:
    chat = ChatSchedule(1, "Asia/Almaty", time(8, 0), utc(2026, 10, 1, 3, 0))
    decided = plan(chat, utc(2026, 11, 20, 12, 0), grace=GRACE)
    assert len(decided.openings) == 8
    assert all(o.skipped for o in decided.openings)
    assert decided.openings[-1].local_date == date(2026, 11, 20)
