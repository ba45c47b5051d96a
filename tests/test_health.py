"""When a feed is fetched next: regular interval, the outlet's freshness hints, backoff
after failures, Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from jobs.health import RETRY_AFTER_CEILING, is_due, next_attempt_at, refresh_hint

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


TWO_HOURS = 2 * HOUR


@pytest.mark.parametrize(
    ("fresh_for", "ttl", "expected"),
    [
        (None, None, None),  # the outlet says nothing
        (5400.0, None, timedelta(minutes=90)),  # Cache-Control max-age / Expires
        (None, timedelta(minutes=60), HOUR),  # RSS <ttl>
        (600.0, timedelta(minutes=60), HOUR),  # the longer of the two counts
        (5400.0, timedelta(minutes=60), timedelta(minutes=90)),
        (86_400.0, None, TWO_HOURS),  # "one day" is capped: news is worth little late
        (None, timedelta(days=7), TWO_HOURS),
        (1e300, None, TWO_HOURS),  # absurd values neither overflow nor escape the cap
        (0.0, None, None),  # "revalidate every time" asks for nothing longer
        (-30.0, None, None),
        (float("nan"), None, None),
        (float("inf"), None, None),
    ],
)
def test_refresh_hint_table(
    fresh_for: float | None, ttl: timedelta | None, expected: timedelta | None
) -> None:
    assert refresh_hint(fresh_for=fresh_for, ttl=ttl, ceiling=TWO_HOURS) == expected


def test_a_zero_ceiling_ignores_every_hint() -> None:
    assert refresh_hint(fresh_for=5400.0, ttl=HOUR, ceiling=timedelta(0)) is None


@pytest.mark.parametrize(
    ("failures", "hint", "expected_delay"),
    [
        (0, HOUR, HOUR),  # a healthy feed waits as long as its outlet asked
        (0, timedelta(minutes=10), MINUTES_30),  # ... but never less than the interval
        (0, None, MINUTES_30),
        (3, HOUR, 2 * HOUR),  # a failing feed keeps its backoff: a hint is a success's
        (1, TWO_HOURS, MINUTES_30),
    ],
)
def test_a_hint_lengthens_only_a_healthy_feeds_wait(
    failures: int, hint: timedelta | None, expected_delay: timedelta
) -> None:
    when = next_attempt_at(NOW, interval=MINUTES_30, consecutive_failures=failures, hint=hint)

    assert when == NOW + expected_delay
