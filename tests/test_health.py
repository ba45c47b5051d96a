"""When a feed is fetched next: regular interval, backoff after failures, Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from jobs.health import RETRY_AFTER_CEILING, is_due, next_attempt_at

NOW = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
MINUTES_30 = timedelta(minutes=30)


@pytest.mark.parametrize(
    ("failures", "retry_after", "expected_delay"),
    [
        (0, None, MINUTES_30),  # healthy: the regular interval
        (1, None, MINUTES_30),  # first failure: one interval
        (2, None, HOUR),
        (3, None, 2 * HOUR),
        (4, None, 4 * HOUR),
        (5, None, 6 * HOUR),  # 8 h is capped at the 6 h maximum
        (40, None, 6 * HOUR),
        (10_000, None, 6 * HOUR),  # a feed dead for years: no overflow
        (0, 7200.0, 2 * HOUR),  # the server asks for more patience than our schedule
        (3, 60.0, 2 * HOUR),  # ... but a shorter Retry-After does not shorten backoff
        (1, 3600.0, HOUR),
        (1, 90.5, MINUTES_30),
        (1, 1e12, RETRY_AFTER_CEILING),  # absurd values are capped
        (1, -10.0, MINUTES_30),  # nonsense is ignored
        (1, float("nan"), MINUTES_30),
        (1, float("inf"), MINUTES_30),
    ],
)
def test_next_attempt_table(
    failures: int, retry_after: float | None, expected_delay: timedelta
) -> None:
    when = next_attempt_at(
        NOW, interval=MINUTES_30, consecutive_failures=failures, retry_after=retry_after
    )

    assert when == NOW + expected_delay
    assert when.tzinfo is not None


def test_failing_feeds_are_retried_less_and_less_often() -> None:
    delays = [
        next_attempt_at(NOW, interval=HOUR, consecutive_failures=n) - NOW for n in range(1, 8)
    ]

    assert delays == sorted(delays)
    assert delays[0] < delays[-1] == timedelta(hours=6)


def test_a_custom_max_backoff_caps_the_delay() -> None:
    when = next_attempt_at(
        NOW, interval=HOUR, consecutive_failures=4, max_backoff=timedelta(hours=3)
    )

    assert when == NOW + timedelta(hours=3)


def test_an_interval_above_the_cap_retries_a_failure_sooner() -> None:
    daily = timedelta(days=1)

    healthy = next_attempt_at(NOW, interval=daily, consecutive_failures=0)
    failed_once = next_attempt_at(NOW, interval=daily, consecutive_failures=1)

    assert healthy == NOW + daily
    assert failed_once == NOW + timedelta(hours=6)


def test_other_time_zones_give_the_same_instant() -> None:
    almaty = timezone(timedelta(hours=5))
    local_now = NOW.astimezone(almaty)

    when = next_attempt_at(local_now, interval=HOUR, consecutive_failures=0)

    assert when == NOW + HOUR


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"now": datetime(2025, 3, 4, 9, 0)}, "timezone-aware"),  # noqa: DTZ001
        ({"interval": timedelta(0)}, "interval must be positive"),
        ({"max_backoff": -HOUR}, "max_backoff must be positive"),
        ({"consecutive_failures": -1}, "must not be negative"),
    ],
)
def test_impossible_inputs_are_programming_errors(changes: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "now": NOW,
        "interval": HOUR,
        "consecutive_failures": 0,
        "max_backoff": timedelta(hours=6),
    }
    arguments.update(changes)

    with pytest.raises(ValueError, match=message):
        next_attempt_at(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("scheduled", "due"),
    [
        (None, True),  # a new feed is fetched at once
        (NOW - timedelta(seconds=1), True),
        (NOW, True),
        (NOW + timedelta(seconds=1), False),
        (NOW + 6 * HOUR, False),
    ],
)
def test_is_due_table(scheduled: datetime | None, due: bool) -> None:
    assert is_due(scheduled, NOW) is due


def test_is_due_refuses_naive_datetimes() -> None:
    naive = datetime(2025, 3, 4, 9, 0)  # noqa: DTZ001

    with pytest.raises(ValueError, match="timezone-aware"):
        is_due(naive, NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        is_due(None, naive)
