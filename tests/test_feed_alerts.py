"""Feeds failing for a day are reported to the admins once, and once when they recover:
the pure decision, then the real bot over the fake Bot API with a fake clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.alerts import AdminNotifier, after_collection
from bot.fake_api import FakeBotApi, parse_html
from bot.i18n import Translator
from bot.telegram.digest_delivery import delivery_bot
from jobs.collect import CollectionReport, FeedReport, FeedStatus
from jobs.feed_alerts import decide_feed_alerts
from storage import FeedSpec, FetchRecord, Store
from storage.ops import FeedAlertView

T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
DAY = timedelta(hours=24)
ADMIN = 900
SECOND_ADMIN = 901  # never started the bot: Telegram refuses to write to them
FEEDS = [
    FeedSpec("times", "The Astana Times", "https://t.example/rss", "en", "kz"),
    FeedSpec("kun", "Kun.uz", "https://kun.example/rss", "uz", "uz"),
]


def view(
    *,
    failures: int,
    failing_since: datetime | None = None,
    alerted_at: datetime | None = None,
    last_error_at: datetime | None = T0,
    last_success_at: datetime | None = None,
    enabled: bool = True,
) -> FeedAlertView:
    return FeedAlertView(
        feed_id=1,
        key="kun",
        name="Kun.uz",
        enabled=enabled,
        consecutive_failures=failures,
        last_success_at=last_success_at,
        last_error="HTTP 502",
        last_error_at=last_error_at,
        failing_since=failing_since,
        alerted_at=alerted_at,
    )


def test_a_new_failure_starts_the_clock_without_a_message() -> None:
    decision = decide_feed_alerts([view(failures=1)], T0)
    assert decision.alerts == ()
    assert decision.recoveries == ()
    [state] = decision.states
    assert (state.failing_since, state.alerted_at) == (T0, None)


def test_a_day_of_failures_alerts_once() -> None:
    before = decide_feed_alerts([view(failures=40, failing_since=T0)], T0 + DAY - timedelta(1))
    assert (before.alerts, before.states) == ((), ())
    due = decide_feed_alerts([view(failures=49, failing_since=T0)], T0 + DAY)
    [alert] = due.alerts
    assert (alert.key, alert.failures, alert.failing_since) == ("kun", 49, T0)
    assert due.states[0].alerted_at == T0 + DAY
    after = decide_feed_alerts(
        [view(failures=50, failing_since=T0, alerted_at=T0 + DAY)], T0 + DAY * 2
    )
    assert (after.alerts, after.states) == ((), ())


def test_recovery_is_announced_only_after_an_alert() -> None:
    back = T0 + DAY * 2
    told = decide_feed_alerts(
        [view(failures=0, failing_since=T0, alerted_at=T0 + DAY, last_success_at=back)], back
    )
    [recovery] = told.recoveries
    assert (recovery.failing_since, recovery.recovered_at) == (T0, back)
    assert told.states[0].failing_since is None  # the row goes
    quiet = decide_feed_alerts([view(failures=0, failing_since=T0, last_success_at=back)], back)
    assert quiet.recoveries == ()
    assert quiet.states[0].failing_since is None


def test_a_disabled_feed_is_forgotten_silently() -> None:
    decision = decide_feed_alerts(
        [view(failures=9, failing_since=T0, alerted_at=T0 + DAY, enabled=False)], T0 + DAY * 3
    )
    assert (decision.alerts, decision.recoveries) == ((), ())
    assert decision.states[0].failing_since is None


def test_admins_hear_once_after_a_day_and_once_on_recovery(store: Store) -> None:
    store.sync_feeds(FEEDS, now=T0)
    kun = next(s.id for s in store.feed_states() if s.spec.key == "kun")
    times = next(s.id for s in store.feed_states() if s.spec.key == "times")
    # The admin talked to the bot in Russian: the alerts come in Russian.
    store.chats.start(ADMIN, kind="private", title=None, language="ru", now=T0)
    translator = Translator()
    clock = [T0]

    with FakeBotApi() as api:
        api.add_user(ADMIN, language_code="ru")
        bot = delivery_bot(api.token, api.base_url, per_second=30, read_timeout=5)
        notifier = AdminNotifier(bot, translator, store, [SECOND_ADMIN, ADMIN])
        hook = after_collection(store, notifier, failing_for=DAY, clock=lambda: clock[0])

        def collection(at: datetime, *, kun_ok: bool) -> None:
            """A run at ``at``: times always works, kun fails unless ``kun_ok``."""
            clock[0] = at
            later = at + timedelta(minutes=30)
            store.record_fetches(
                [
                    (times, FetchRecord(at, True, None, None, later)),
                    (kun, FetchRecord(at, kun_ok, None if kun_ok else "HTTP 502", None, later)),
                ]
            )
            report = CollectionReport(
                at, at, (FeedReport("kun", "Kun.uz", FeedStatus.FAILED, error="HTTP 502"),)
            )

            async def run() -> None:
                async with bot:
                    await hook(report)

            asyncio.run(run())

        collection(T0, kun_ok=False)
        collection(T0 + timedelta(hours=12), kun_ok=False)
        assert api.messages(ADMIN) == []

        collection(T0 + DAY, kun_ok=False)
        [alert] = api.messages(ADMIN)
        failing = translator.text(
            "ru",
            "alert_feed_failing",
            feed="Kun.uz",
            key="kun",
            since="2026-11-20 06:00 UTC",
            failures=3,
            error="HTTP 502",
        )
        assert alert.text == parse_html(failing)
        assert "Kun.uz" in alert.text
        assert "Astana" not in alert.text  # the healthy feed is not mentioned

        collection(T0 + DAY + timedelta(minutes=30), kun_ok=False)
        collection(T0 + DAY + timedelta(hours=6), kun_ok=False)
        assert len(api.messages(ADMIN)) == 1  # not again on the next failing runs

        collection(T0 + DAY + timedelta(hours=7), kun_ok=True)
        messages = api.messages(ADMIN)
        assert len(messages) == 2
        recovered = translator.text(
            "ru", "alert_feed_recovered", feed="Kun.uz", key="kun", since="2026-11-20 06:00 UTC"
        )
        assert messages[1].text == parse_html(recovered)

        collection(T0 + DAY + timedelta(hours=8), kun_ok=True)
        collection(T0 + DAY * 3, kun_ok=True)
        assert len(api.messages(ADMIN)) == 2  # a recovery is announced once

        # It fails again: a new day counts from the new first failure.
        collection(T0 + DAY * 4, kun_ok=False)
        collection(T0 + DAY * 5 - timedelta(minutes=1), kun_ok=False)
        assert len(api.messages(ADMIN)) == 2
        collection(T0 + DAY * 5, kun_ok=False)
        assert len(api.messages(ADMIN)) == 3
