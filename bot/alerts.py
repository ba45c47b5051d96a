"""Feed alerts through the bot: each admin (``telegram.admins``) in their private chat.

:class:`AdminNotifier` is the bot's :class:`~jobs.feed_alerts.AlertSender`; the
decision of what to say is :func:`jobs.feed_alerts.decide_feed_alerts`. Each message is
in the admin's language when the admin has talked to the bot (their chat's language),
else English. An admin who never started the bot cannot be written to (Telegram
refuses); that is logged, and the alert counts as delivered if any admin got it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot.i18n import DEFAULT_LANGUAGE, Translator
from jobs.collect import CollectionReport
from jobs.feed_alerts import FeedAlert, FeedRecovery, check_feed_alerts
from jobs.telemetry import count_collection, log_event
from storage import StorageError, Store

log = logging.getLogger(__name__)

#: Longest feed error quoted in an alert (errors can quote a whole response line).
MAX_ERROR_CHARS = 300


class AdminNotifier:
    """Sends feed alerts to every admin's private chat through ``bot``."""

    def __init__(
        self, bot: Bot, translator: Translator, store: Store, admins: Sequence[int]
    ) -> None:
        self._bot = bot
        self._t = translator
        self._store = store
        self._admins = tuple(admins)

    async def feed_failing(self, alert: FeedAlert) -> bool:
        error = alert.last_error
        if len(error) > MAX_ERROR_CHARS:
            error = error[: MAX_ERROR_CHARS - 1] + "…"
        return await self._broadcast(
            "alert_feed_failing",
            feed=alert.name,
            key=alert.key,
            since=_when(alert.failing_since),
            failures=alert.failures,
            error=error,
        )

    async def feed_recovered(self, recovery: FeedRecovery) -> bool:
        return await self._broadcast(
            "alert_feed_recovered",
            feed=recovery.name,
            key=recovery.key,
            since=_when(recovery.failing_since),
        )

    async def _broadcast(self, message: str, /, **values: object) -> bool:
        delivered = False
        for admin in self._admins:
            language = await asyncio.to_thread(self._language_of, admin)
            try:
                await self._bot.send_message(
                    admin,
                    self._t.text(language, message, **values),
                    parse_mode=ParseMode.HTML,
                    disable_web_page_preview=True,
                )
            except TelegramError as exc:
                log_event(
                    log,
                    "admin_message_failed",
                    level=logging.WARNING,
                    chat=admin,
                    message=message,
                    error=str(exc),
                )
                continue
            delivered = True
        return delivered

    def _language_of(self, admin: int) -> str:
        try:
            chat = self._store.chats.get(admin)
        except StorageError:
            return DEFAULT_LANGUAGE
        return chat.language if chat is not None else DEFAULT_LANGUAGE


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def after_collection(
    store: Store,
    notifier: AdminNotifier | None,
    *,
    failing_for: timedelta,
    clock: Callable[[], datetime],
) -> Callable[[CollectionReport], Coroutine[Any, Any, None]]:
    """What ``steppe run`` does after each scheduled collection: count it for the
    metrics and, with a notifier, check the feed alerts (under the collection lock)."""

    async def hook(report: CollectionReport) -> None:
        count_collection(
            new=report.new, updated=report.updated, failed=report.failed, pruned=report.pruned
        )
        if notifier is not None and report.feeds:
            await check_feed_alerts(store, notifier, now=clock(), after=failing_for)

    return hook


__all__ = ["MAX_ERROR_CHARS", "AdminNotifier", "after_collection"]
