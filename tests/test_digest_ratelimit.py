"""Telegram's limits as arithmetic, and what each answer from Telegram leads to."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from jobs.digest.policy import ActionKind, Outcome, OutcomeKind, RetryPolicy, backoff, decide
from jobs.digest.ratelimit import Limits, RateLimiter, connections_for

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def seconds(moment: datetime) -> float:
    return (moment - T0).total_seconds()


def test_thirty_a_second_overall_evenly_spaced() -> None:
    limiter = RateLimiter(Limits(per_second=30))
    times = [seconds(limiter.reserve(chat, group=False, now=T0)) for chat in range(90)]
    assert times[0] == 0.0
    assert times[-1] < 3.0  # 90 messages in 3 seconds
    # Slots fall on whole microseconds: neighbours are 1/30 s apart give or take one,
    # and any 30 in a row span a full second.
    assert all(b - a >= 1 / 30 - 1e-6 for a, b in itertools.pairwise(times))
    assert all(b - a >= 1.0 - 1e-9 for a, b in zip(times, times[30:], strict=False))


def test_a_chats_second_message_does_not_hold_the_others_back() -> None:
    # Each chat's second message must wait a second; the slots before it go to others.
    limiter = RateLimiter(Limits(per_second=30))
    second_parts, first_parts = [], []
    for chat in range(60):
        first_parts.append(seconds(limiter.reserve(chat, group=False, now=T0)))
        if chat < 30:
            second_parts.append(seconds(limiter.reserve(chat, group=False, now=T0)))
    moments = sorted(first_parts + second_parts)
    assert moments == sorted(set(moments))  # one message per slot
    assert len(moments) == 90
    assert max(moments) < 3.0  # no slot left empty
    assert all(b - a >= 1.0 - 1e-9 for a, b in zip(first_parts[:30], second_parts, strict=True))


def test_a_late_send_keeps_the_chats_interval_from_when_it_left() -> None:
    limiter = RateLimiter(Limits(per_second=30))
    booked = limiter.reserve(7, group=False, now=T0)
    limiter.sent(7, at=booked + timedelta(seconds=0.4))  # the sender fell behind
    assert seconds(limiter.reserve(7, group=False, now=T0 + timedelta(seconds=0.5))) >= 1.4


def test_paid_broadcast_rate() -> None:
    limiter = RateLimiter(Limits(per_second=1000))
    last = [limiter.reserve(chat, group=False, now=T0) for chat in range(1000)][-1]
    assert seconds(last) < 1.0


def test_one_a_second_per_chat_and_twenty_a_minute_per_group() -> None:
    limiter = RateLimiter(Limits(per_second=30))
    private = [seconds(limiter.reserve(1, group=False, now=T0)) for _ in range(3)]
    assert private == [0.0, 1.0, 2.0]
    limiter = RateLimiter(Limits(per_second=30))
    group = [seconds(limiter.reserve(-5, group=True, now=T0)) for _ in range(22)]
    assert group[:20] == [float(n) for n in range(20)]
    assert group[20] == 60.0  # the 21st waits until the first leaves the minute
    assert group[21] == 61.0


def test_a_429_pauses_everything() -> None:
    limiter = RateLimiter(Limits(per_second=30))
    limiter.pause(T0 + timedelta(seconds=7))
    assert seconds(limiter.reserve(9, group=False, now=T0)) == 7.0


def test_connections_are_sized_for_the_rate() -> None:
    assert connections_for(30) == 12
    assert connections_for(1000) == 375
    assert connections_for(1) == 4


def test_each_answer_leads_to_its_action() -> None:
    policy = RetryPolicy(max_attempts=3, backoff=timedelta(seconds=2))

    def act(
        kind: OutcomeKind,
        failures: int = 0,
        plain: bool = False,
        wait: float = 0.0,
        grace_left: timedelta = timedelta(0),
    ) -> str:
        outcome = Outcome(kind, "x", retry_after=wait)
        action = decide(
            outcome, failures=failures, plain=plain, policy=policy, grace_left=grace_left
        )
        return action.kind.value

    assert act(OutcomeKind.SENT) == ActionKind.RECORD.value
    assert act(OutcomeKind.FLOOD, wait=5) == "wait"
    assert act(OutcomeKind.FLOOD, wait=600) == "requeue"  # never dropped
    assert act(OutcomeKind.UNREACHABLE) == "blocked"
    assert act(OutcomeKind.BAD_MARKUP) == "plain"
    assert act(OutcomeKind.BAD_MARKUP, plain=True) == "fail"
    assert act(OutcomeKind.TRANSIENT, failures=0) == "wait"
    assert act(OutcomeKind.TRANSIENT, failures=2) == "fail"
    # Out of attempts while the digest may still go out late: tried again later.
    assert act(OutcomeKind.TRANSIENT, failures=2, grace_left=timedelta(hours=1)) == "requeue"
    assert act(OutcomeKind.REJECTED) == "fail"
    assert [backoff(n, policy).total_seconds() for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert backoff(30, policy) == policy.max_backoff
