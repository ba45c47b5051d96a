"""Delivering digests in tests: the fake Bot API over loopback, a fake clock, a store.

:class:`Delivery` builds the real :class:`~jobs.digest.dispatch.Dispatcher` with the
bot layer's :class:`~bot.telegram.digest_delivery.BotSender` (python-telegram-bot over
HTTP to :class:`~bot.fake_api.FakeBotApi`) and a :class:`FakeClock` whose ``sleep``
moves time on instead of waiting: a day of ticks runs in a moment.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from bot.fake_api import FakeBotApi
from bot.i18n import Translator
from bot.telegram.digest_delivery import BotSender, DigestComposer, delivery_bot
from jobs.digest.dispatch import Dispatcher, DispatchReport, DispatchSettings
from jobs.digest.policy import Outcome
from storage import ArticleInput, Classification, FeedSpec, Store

START = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
TIMES = FeedSpec("times", "The Astana Times", "https://t.example/rss", "en", "kz")


@dataclass
class FakeClock:
    """The time, moved on by ``sleep`` and by the test; never waits."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        await asyncio.sleep(0)


@dataclass
class RecordingSender:
    """Wraps a sender: notes when (by the fake clock) each answer came, per chat."""

    inner: BotSender
    clock: FakeClock
    sent: list[tuple[int, datetime]] = field(default_factory=list)
    outcomes: list[tuple[int, Outcome]] = field(default_factory=list)
    crash_after: int | None = None
    """Raise :class:`Crash` instead of the send after this many successful ones."""

    async def send(
        self, chat_id: int, text: str, *, plain: bool, footer_language: str | None
    ) -> Outcome:
        if self.crash_after is not None and len(self.sent) >= self.crash_after:
            raise Crash(f"killed after {len(self.sent)} messages")
        outcome = await self.inner.send(chat_id, text, plain=plain, footer_language=footer_language)
        self.outcomes.append((chat_id, outcome))
        if outcome.kind.value == "sent":
            self.sent.append((chat_id, self.clock.now))
        return outcome


class Crash(BaseException):
    """The process dies: not an error the dispatcher handles."""


def add_chat(
    api: FakeBotApi,
    store: Store,
    chat_id: int,
    *,
    zone: str = "Asia/Almaty",
    at: time = time(8, 0),
    language: str = "en",
    now: datetime = START,
) -> None:
    """A private chat on both sides: Telegram's (the fake) and the bot's."""
    api.add_user(chat_id, language_code=language)
    store.chats.start(chat_id, kind="private", title=None, language=language, now=now)
    store.chats.update(chat_id, timezone=zone, delivery_time=at, now=now)


def add_articles(
    store: Store,
    titles: Sequence[str],
    *,
    now: datetime,
    topic: str = "energy",
    country: str = "kz",
    feed: FeedSpec = TIMES,
) -> None:
    """Classified articles, each its own story, first seen at ``now``."""
    store.sync_feeds([feed], now=now)
    feed_id = next(s.id for s in store.feed_states() if s.spec.key == feed.key)
    articles = [
        ArticleInput(
            guid=f"{feed.key}-{title}",
            url=f"https://t.example/{feed.key}/{abs(hash(title))}",
            title=title,
            summary=f"{title}. More words.",
            content="",
            language=feed.language or "en",
            published_at=now - timedelta(minutes=n + 1),
            content_hash=hashlib.sha256(title.encode()).hexdigest(),
            classification=Classification(topics={topic: 0.8}, countries=[country]),
        )
        for n, title in enumerate(titles)
    ]
    store.save_articles(feed_id, [(a, None) for a in articles], [], now=now)


class Delivery:
    """A dispatcher wired as in production, except for the clock."""

    def __init__(
        self,
        api: FakeBotApi,
        store: Store,
        clock: FakeClock,
        settings: DispatchSettings | None = None,
        *,
        worker: str = "worker-1",
        read_timeout: float = 5.0,
    ) -> None:
        translator = Translator()
        self.bot = delivery_bot(api.token, api.base_url, per_second=30, read_timeout=read_timeout)
        self.sender = RecordingSender(BotSender(self.bot, translator), clock)
        self.dispatcher = Dispatcher(
            store,
            self.sender,
            DigestComposer(translator),
            settings or DispatchSettings(concurrency=4),
            worker=worker,
            clock=clock,
            sleep=clock.sleep,
        )

    async def run(self) -> DispatchReport:
        async with self.bot:
            return await self.dispatcher.run_once()

    def run_once(self) -> DispatchReport:
        return asyncio.run(self.run())
