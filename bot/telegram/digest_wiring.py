"""The digest dispatcher as ``steppe run`` and ``steppe dispatch`` build it."""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from telegram import Bot

from bot.config import Settings
from bot.i18n import Translator
from bot.metrics import CountingSender
from bot.telegram.digest_delivery import BotSender, DigestComposer, delivery_bot
from jobs.digest.dispatch import Dispatcher, DispatchSettings
from jobs.digest.policy import RetryPolicy
from jobs.digest.ratelimit import Limits, connections_for
from jobs.digest.selection import SelectionSettings
from storage import Store


def selection_settings(settings: Settings) -> SelectionSettings:
    digest = settings.digest
    return SelectionSettings(
        max_per_topic=digest.max_per_topic,
        first_window=timedelta(hours=digest.first_window_hours),
        max_window=timedelta(hours=digest.max_window_hours),
    )


def dispatch_settings(settings: Settings) -> DispatchSettings:
    delivery = settings.delivery
    return DispatchSettings(
        selection=selection_settings(settings),
        limits=Limits(
            per_second=delivery.messages_per_second,
            chat_interval=timedelta(seconds=delivery.chat_interval_seconds),
            group_per_minute=delivery.group_messages_per_minute,
        ),
        retry=RetryPolicy(
            max_attempts=delivery.max_attempts,
            backoff=timedelta(seconds=delivery.backoff_seconds),
            max_backoff=timedelta(seconds=delivery.max_backoff_seconds),
            max_inline_wait=timedelta(seconds=delivery.max_flood_wait_seconds),
        ),
        grace=timedelta(hours=delivery.grace_hours),
        quiet_day_note=settings.digest.quiet_day == "note",
        lease=timedelta(seconds=delivery.lease_seconds),
        batch=delivery.batch,
        concurrency=connections_for(delivery.messages_per_second),
    )


def worker_id() -> str:
    """Names this process in the ledger: host and process id."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def build_dispatcher(
    settings: Settings,
    store: Store,
    *,
    bot: Bot | None = None,
    clock: Callable[[], datetime] = _utc_now,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> tuple[Dispatcher, Bot]:
    """The dispatcher and the Bot it sends with (initialise and shut that one down)."""
    translator = Translator()
    if bot is None:
        bot = delivery_bot(
            settings.telegram.token.get_secret_value(),
            settings.telegram.api_base_url,
            per_second=settings.delivery.messages_per_second,
            read_timeout=settings.delivery.request_timeout,
        )
    extra = {} if sleep is None else {"sleep": sleep}
    dispatcher = Dispatcher(
        store,
        CountingSender(BotSender(bot, translator)),  # Telegram errors, for /metrics
        DigestComposer(translator),
        dispatch_settings(settings),
        worker=worker_id(),
        clock=clock,
        **extra,
    )
    return dispatcher, bot
