"""Digests arrive at each chat's local time, exactly once, through Telegram's faults.

The real dispatcher sends with python-telegram-bot over loopback HTTP to the fake Bot
API, on a real database (SQLite, or PostgreSQL with STEPPE_TEST_DATABASE=postgresql),
with a fake clock: ticks and waits move time on, nothing sleeps.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.fake_api import FakeBotApi, Fault
from jobs.digest.dispatch import DispatchSettings
from jobs.digest.policy import RetryPolicy
from storage import Store
from tests.digestharness import START, Crash, Delivery, FakeClock, add_articles, add_chat


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    with FakeBotApi() as server:
        yield server


def _digests(api: FakeBotApi, chat_id: int) -> list[str]:
    return [m.text for m in api.messages(chat_id)]


def test_digests_arrive_at_local_time_in_three_zones_across_a_dst_change(
    api: FakeBotApi, store: Store
) -> None:
    # 31 October to 2 November 2026: New York leaves daylight saving time on 1 November.
    clock = FakeClock(START.replace(month=10, day=31))
    add_chat(api, store, 1, zone="Asia/Almaty", at=time(8, 0), now=clock.now)
    add_chat(api, store, 2, zone="Asia/Tashkent", at=time(9, 30), now=clock.now)
    add_chat(api, store, 3, zone="America/New_York", at=time(7, 0), now=clock.now)
    delivery = Delivery(api, store, clock)

    async def three_days() -> None:
        async with delivery.bot:
            end = clock.now + timedelta(days=3)
            while clock.now < end:
                await delivery.dispatcher.run_once()
                clock.now += timedelta(minutes=5)

    asyncio.run(three_days())
    local = {
        chat: [
            moment.astimezone(ZoneInfo(zone)).strftime("%m-%d %H:%M")
            for sent_to, moment in delivery.sender.sent
            if sent_to == chat
        ]
        for chat, zone in ((1, "Asia/Almaty"), (2, "Asia/Tashkent"), (3, "America/New_York"))
    }
    assert local[1] == ["10-31 08:00", "11-01 08:00", "11-02 08:00"]
    assert local[2] == ["10-31 09:30", "11-01 09:30", "11-02 09:30"]
    assert local[3] == ["10-31 07:00", "11-01 07:00", "11-02 07:00"]
    nyc = [moment.hour for chat, moment in delivery.sender.sent if chat == 3]
    assert nyc == [11, 12, 12]  # UTC: 07:00 EDT, then 07:00 EST
    assert all(len(_digests(api, chat)) == 3 for chat in (1, 2, 3))
    assert [d.local_date for d in store.deliveries.of_chat(3)] == [
        date(2026, 10, 31),
        date(2026, 11, 1),
        date(2026, 11, 2),
    ]


def test_the_digest_holds_the_news_with_buttons_and_never_repeats_a_story(
    api: FakeBotApi, store: Store
) -> None:
    clock = FakeClock(START + timedelta(hours=2, minutes=30))  # 07:30 in Almaty
    add_chat(api, store, 1, now=clock.now)
    add_articles(store, ["Solar <plant> & grid", "Wind farm opens"], now=clock.now)
    delivery = Delivery(api, store, clock)
    delivery.run_once()  # plans the chat: due at 08:00 local
    clock.now += timedelta(minutes=30)
    report = delivery.run_once()
    assert (report.sent, report.messages) == (1, 1)
    [message] = api.messages(1)
    assert "Solar <plant> & grid" in message.text
    assert "Solar &lt;plant&gt; &amp; grid" in message.html
    assert "why: Energy · Kazakhstan" in message.text
    assert message.button_labels == ["⚙️ Settings", "⏸ Pause"]
    # The next day: one new story; yesterday's are not sent again.
    clock.now += timedelta(hours=20)
    add_articles(store, ["Hydro dam approved"], now=clock.now)
    clock.now += timedelta(hours=4)
    delivery.run_once()
    second = api.messages(1)[1].text
    assert "Hydro dam approved" in second
    assert "Solar" not in second


def test_a_chats_wait_between_its_messages_does_not_hold_up_the_other_chats(
    api: FakeBotApi, store: Store
) -> None:
    # Two-message digests through a single connection: each chat must wait a second
    # between its own two messages, and meanwhile the others' first messages go out.
    clock = FakeClock(START)
    chats = range(1, 6)
    for chat in chats:
        add_chat(api, store, chat, now=clock.now)
    long = " ".join(["grid"] * 40)
    add_articles(store, [f"Solar {n} {long}" for n in range(5)], now=clock.now, topic="energy")
    add_articles(store, [f"Hub {n} {long}" for n in range(5)], now=clock.now, topic="it_hubs")
    delivery = Delivery(api, store, clock, DispatchSettings(concurrency=1))
    delivery.run_once()  # plans: due at 03:00 UTC
    clock.now = START + timedelta(hours=3)
    report = delivery.run_once()
    assert report.sent == 5
    assert all(len(api.messages(chat)) == 2 for chat in chats)
    order = [chat for chat, _ in delivery.sender.sent]
    assert order[:5] == list(chats)  # every chat's first message before any second one
    assert sorted(order[5:]) == list(chats)


def test_a_group_that_became_a_supergroup_gets_its_digest_at_the_new_id(
    api: FakeBotApi, store: Store
) -> None:
    clock = FakeClock(START)
    old, new = -4600000, -1004600000
    api.add_user(11)
    api.add_group(old, title="Tech", admins={11}, kind="group")
    store.chats.start(old, kind="group", title="Tech", language="en", now=clock.now)
    add_articles(store, ["Solar plant opens"], now=clock.now)
    delivery = Delivery(api, store, clock)
    delivery.run_once()  # plans: 08:00 in Almaty
    api.upgrade_group(old, new, by=11)  # the bot has not heard of it yet
    clock.now = START + timedelta(hours=3)
    report = delivery.run_once()
    assert report.sent == 1
    assert api.messages(old) == []
    [message] = api.messages(new)
    assert "Solar plant opens" in message.text
    assert store.chats.get(old) is None
    moved = store.chats.get(new)
    assert moved is not None
    assert moved.kind == "supergroup"
    assert [d.state for d in store.deliveries.of_chat(new)] == ["sent"]


def test_exactly_once_across_a_crash_in_the_middle_of_a_fan_out(
    api: FakeBotApi, store: Store
) -> None:
    clock = FakeClock(START)
    chats = range(1, 11)
    for chat in chats:
        add_chat(api, store, chat, now=clock.now)
    add_articles(store, ["Solar plant opens"], now=clock.now)
    settings = DispatchSettings(concurrency=1)
    first = Delivery(api, store, clock, settings, worker="doomed")
    first.run_once()  # plans: due at 03:00 UTC
    clock.now = START + timedelta(hours=3)
    first.sender.crash_after = 4
    with pytest.raises(BaseExceptionGroup) as died:
        first.run_once()
    assert died.group_contains(Crash)
    assert sum(len(api.messages(chat)) for chat in chats) == 4
    # A new process: the rows the dead one held come back when its lease runs out.
    clock.now += settings.lease + timedelta(seconds=1)
    second = Delivery(api, store, clock, settings, worker="heir")
    report = second.run_once()
    assert report.sent == 6
    assert {chat: len(api.messages(chat)) for chat in chats} == dict.fromkeys(chats, 1)
    assert {d.state for chat in chats for d in store.deliveries.of_chat(chat)} == {"sent"}
    clock.now += timedelta(minutes=10)
    assert second.run_once().messages == 0


def test_exactly_once_with_two_workers_claiming_at_once(
    database_url: str, api: FakeBotApi, store: Store
) -> None:
    clock = FakeClock(START)
    chats = range(1, 41)
    for chat in chats:
        add_chat(api, store, chat, now=clock.now)
    Delivery(api, store, clock).run_once()  # plan
    clock.now = START + timedelta(hours=3)
    settings = DispatchSettings(concurrency=4, batch=5)
    reports = []
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        # Each worker: its own process's store (connection pool) and event loop.
        own = Store.open(database_url, upgrade=False)
        try:
            reports.append(Delivery(api, own, clock, settings, worker=name).run_once())
        except BaseException as exc:
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert {chat: len(api.messages(chat)) for chat in chats} == dict.fromkeys(chats, 1)
    assert sum(r.sent for r in reports) == 40


def test_flood_control_server_errors_and_timeouts_never_lose_or_double(
    api: FakeBotApi, store: Store
) -> None:
    clock = FakeClock(START)
    for chat in (1, 2, 3):
        add_chat(api, store, chat, now=clock.now)
    settings = DispatchSettings(concurrency=3, retry=RetryPolicy(max_attempts=4))
    delivery = Delivery(api, store, clock, settings, read_timeout=0.5)
    delivery.run_once()
    clock.now = START + timedelta(hours=3)
    api.fail(Fault("sendMessage", 429, "Too Many Requests: retry after 3", 3, chat_id=1, times=2))
    api.fail(Fault("sendMessage", 500, chat_id=2, times=2))
    api.fail(Fault("sendMessage", chat_id=3, hang=True))  # times out on our side
    report = delivery.run_once()
    assert report.sent == 3
    assert {chat: len(api.messages(chat)) for chat in (1, 2, 3)} == {1: 1, 2: 1, 3: 1}
    kinds = Counter((chat, o.kind.value) for chat, o in delivery.sender.outcomes)
    assert kinds[(1, "flood")] == 2
    assert kinds[(2, "transient")] == 2
    assert kinds[(3, "transient")] == 1
    # Flood control was waited out: the message to chat 1 went 3 s after the second 429.
    [(_, sent_at)] = [s for s in delivery.sender.sent if s[0] == 1]
    assert sent_at >= START + timedelta(hours=3, seconds=6)


def test_a_long_flood_wait_requeues_and_persistent_errors_fail_visibly(
    api: FakeBotApi, store: Store
) -> None:
    clock = FakeClock(START)
    for chat in (1, 2):
        add_chat(api, store, chat, now=clock.now)
    settings = DispatchSettings(retry=RetryPolicy(max_attempts=3))
    delivery = Delivery(api, store, clock, settings)
    delivery.run_once()
    clock.now = START + timedelta(hours=3)
    api.fail(Fault("sendMessage", 429, "Too Many Requests", 600, chat_id=1))
    api.fail(Fault("sendMessage", 502, "Bad Gateway", chat_id=2, times=9))
    report = delivery.run_once()
    # Chat 1 waits out Telegram's ten minutes; chat 2's three attempts failed, but its
    # digest is given back to the ledger while the grace period lasts.
    assert (report.requeued, report.failed) == (2, 0)
    # The requeued digest goes out once Telegram's ten minutes are over, not before.
    clock.now = max(clock.now, START + timedelta(hours=3, minutes=10, seconds=1))
    delivery.run_once()
    [(_, sent_at)] = delivery.sender.sent
    assert sent_at >= START + timedelta(hours=3, minutes=10)
    [pending] = store.deliveries.of_chat(2)
    assert pending.state == "pending"
    # Still failing once the grace period (6 h) is over: failed, visibly.
    clock.now = START + timedelta(hours=9, minutes=1)
    report = delivery.run_once()
    assert report.failed == 1
    [failed] = store.deliveries.of_chat(2)
    assert failed.state == "failed"
    assert failed.error is not None
    assert "gave up after 3 attempts" in failed.error
    assert [d.state for d in store.deliveries.failures(since=START)] == ["failed"]
    assert api.messages(2) == []


def test_markup_telegram_cannot_parse_goes_out_as_plain_text(api: FakeBotApi, store: Store) -> None:
    clock = FakeClock(START)
    add_chat(api, store, 1, now=clock.now)
    add_articles(store, ["Solar plant opens"], now=clock.now)
    delivery = Delivery(api, store, clock)
    delivery.run_once()
    clock.now = START + timedelta(hours=3)
    api.fail(
        Fault("sendMessage", 400, "Bad Request: can't parse entities: unclosed tag", chat_id=1)
    )
    report = delivery.run_once()
    assert (report.sent, report.plain_fallbacks) == (1, 1)
    [message] = api.messages(1)
    assert "<" not in message.html
    assert "Solar plant opens (https://t.example/" in message.text


def test_a_blocked_chat_stops_and_is_back_after_start(api: FakeBotApi, store: Store) -> None:
    clock = FakeClock(START)
    add_chat(api, store, 1, now=clock.now)
    delivery = Delivery(api, store, clock)
    delivery.run_once()
    clock.now = START + timedelta(hours=3)
    api.block(1)
    report = delivery.run_once()
    assert report.blocked == 1
    chat = store.chats.get(1)
    assert chat is not None
    assert not chat.active
    assert [d.state for d in store.deliveries.of_chat(1)] == ["blocked"]
    clock.now += timedelta(days=1)
    assert delivery.run_once().claimed == 0  # an inactive chat is not planned
    api.unblock(1)
    store.chats.start(1, kind="private", title=None, language="en", now=clock.now)  # /start
    delivery.run_once()  # planned from now: the next 08:00
    clock.now = START + timedelta(days=2, hours=3)
    assert delivery.run_once().sent == 1
    assert len(api.messages(1)) == 1


def test_after_downtime_late_within_grace_skipped_beyond(api: FakeBotApi, store: Store) -> None:
    clock = FakeClock(START)
    add_chat(api, store, 1, at=time(8, 0), now=clock.now)  # 03:00 UTC
    add_chat(api, store, 2, at=time(6, 0), now=clock.now)  # 01:00 UTC
    delivery = Delivery(api, store, clock)
    delivery.run_once()
    # Down until 08:30 UTC: chat 1 is 5.5 h late (sent), chat 2 is 7.5 h late (skipped).
    clock.now = START + timedelta(hours=8, minutes=30)
    report = delivery.run_once()
    assert (report.sent, report.skipped) == (1, 1)
    assert len(api.messages(1)) == 1
    assert api.messages(2) == []
    [skipped] = store.deliveries.of_chat(2)
    assert skipped.state == "skipped"


def test_changing_the_time_after_todays_digest_does_not_send_a_second(
    api: FakeBotApi, store: Store
) -> None:
    clock = FakeClock(START)
    add_chat(api, store, 1, at=time(8, 0), now=clock.now)
    delivery = Delivery(api, store, clock)
    delivery.run_once()
    clock.now = START + timedelta(hours=3)
    delivery.run_once()
    store.chats.update(1, delivery_time=time(10, 0), now=clock.now)  # 05:00 UTC today
    clock.now = START + timedelta(hours=5)
    delivery.run_once()
    delivery.run_once()
    assert len(api.messages(1)) == 1
    clock.now = START + timedelta(days=1, hours=5)
    delivery.run_once()
    assert len(api.messages(1)) == 2
