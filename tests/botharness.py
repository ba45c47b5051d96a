"""The real bot, polling the fake Bot API over loopback, on the test's database.

``world`` (a fixture; import it into a test module) starts :class:`FakeBotApi`, builds
the real application with :func:`bot.telegram.app.build_application` on the ``store``
fixture, and runs it in a thread (:class:`bot.telegram.runner.ThreadedBot`). Tests play
users through ``world.api`` and wait for the bot's answers with timeouts: no sleeps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from bot.fake_api import BotMessage, FakeBotApi, parse_html
from bot.i18n import Translator
from bot.telegram.app import build_application
from bot.telegram.runner import BotRunner, ThreadedBot
from bot.telegram.services import CollectionSummary, Services
from storage import Store

__all__ = ["OPERATOR", "BotWorld", "world"]

OPERATOR = 900
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@dataclass
class Clock:
    """A settable clock for the bot."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class BotWorld:
    api: FakeBotApi
    store: Store
    translator: Translator
    clock: Clock
    collections: list[int] = field(default_factory=list)
    restart: Callable[[], None] = lambda: None
    """Stop the bot and start a new application on the same database and Bot API, as a
    redeploy does: what the bot held in memory is gone."""

    def say(self, chat_id: int, text: str, *, user_id: int | None = None) -> BotMessage:
        """Send ``text`` and return the bot's next message in that chat."""
        self.api.send(chat_id, text, user_id=user_id)
        return self.api.next_message(chat_id)

    def click(self, message: BotMessage, label: str, *, user_id: int | None = None) -> BotMessage:
        """Press a button and return the message as the bot redrew it."""
        self.api.click(message, label, user_id=user_id)
        return self.api.next_message(message.chat_id)

    def t(self, language: str, key: str, **values: object) -> str:
        """A catalog message as the user reads it (markup removed)."""
        return parse_html(self.translator.text(language, key, **values))


@pytest.fixture
def world(store: Store) -> Iterator[BotWorld]:
    translator = Translator()
    clock = Clock()
    with FakeBotApi() as api:
        bot_world = BotWorld(api, store, translator, clock)

        async def collect() -> CollectionSummary:
            bot_world.collections.append(1)
            return CollectionSummary(new=3, updated=1, failed=0)

        services = Services(
            store=store,
            translator=translator,
            operators=frozenset({OPERATOR}),
            collect=collect,
            clock=clock,
        )
        with contextlib.ExitStack() as running:

            def start() -> None:
                application = build_application(
                    services, token=api.token, api_base_url=api.base_url, poll_timeout=2
                )
                running.enter_context(ThreadedBot(BotRunner(application, poll_timeout=2)))

            def restart() -> None:
                running.close()
                start()

            bot_world.restart = restart
            start()
            yield bot_world
