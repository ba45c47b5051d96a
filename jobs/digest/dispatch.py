"""The dispatcher: plans what is due, claims it from the ledger, builds, sends, records.

One :meth:`Dispatcher.run_once` is one scheduler tick (or ``steppe dispatch --once``):

1. *plan*: chats due now (or never planned) get their ledger rows for the dates that
   came due (:func:`jobs.digest.schedule.plan`; older than the grace period: skipped)
   and their next delivery time, compare-and-set;
2. *claim* a batch of rows under a lease (several workers take disjoint batches);
3. *build* each new row's digest (:func:`jobs.digest.selection.select`, then the
   bot's :class:`Composer`) and fix it in the row, so a resumed row sends the same;
4. *send* each row's messages in order, under the :class:`RateLimiter`, concurrently
   up to :attr:`DispatchSettings.concurrency` chats, recording every message sent;
   Telegram's answers are handled by :func:`jobs.digest.policy.decide`.

It is a thin orchestrator: every decision is in the pure modules. The store is
blocking, so its calls run in worker threads; time comes from ``clock`` and waiting
goes through ``sleep`` (tests pass a fake clock whose sleep just moves it on).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import ParamSpec, Protocol, TypeVar

from jobs.digest import schedule
from jobs.digest.policy import Action, ActionKind, RetryPolicy, Sender, decide
from jobs.digest.ratelimit import Limits, RateLimiter
from jobs.digest.selection import Digest, SelectionSettings, select
from storage import Store
from storage.records import (
    DELIVERY_BLOCKED,
    DELIVERY_EMPTY,
    DELIVERY_FAILED,
    DELIVERY_SKIPPED,
    ChatHistory,
    ChatSettings,
    Delivery,
    DigestArticle,
)

log = logging.getLogger(__name__)

_P = ParamSpec("_P")
_T = TypeVar("_T")

#: How far back a chat's sent stories are remembered, beyond the longest window.
_HISTORY_MARGIN = timedelta(days=1)
#: Chats planned per store round trip.
_PLAN_PAGE = 1000
_GROUP_KINDS = frozenset({"group", "supergroup", "channel"})


class Composer(Protocol):
    """Renders a digest as messages (the bot's Telegram HTML, in the chat's language)."""

    def compose(self, chat: ChatSettings, digest: Digest) -> list[str]:
        """The messages, each within Telegram's limit, split between items. An empty
        digest becomes the "quiet day" note."""
        ...


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    selection: SelectionSettings = field(default_factory=SelectionSettings)
    limits: Limits = field(default_factory=Limits)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    grace: timedelta = timedelta(hours=6)
    """A digest due longer ago than this (the service was down) is skipped, recorded."""
    quiet_day_note: bool = True
    """When nothing is new: a short note (True) or no message at all (False)."""
    lease: timedelta = timedelta(minutes=5)
    """How long a claimed row is this worker's without news from it."""
    batch: int = 200
    concurrency: int = 8
    """Chats sent to at once (size the HTTP connection pool to match)."""


@dataclass
class DispatchReport:
    """What one run did, for logs and ``steppe dispatch --once``."""

    opened: int = 0
    claimed: int = 0
    sent: int = 0
    empty: int = 0
    failed: int = 0
    blocked: int = 0
    requeued: int = 0
    skipped: int = 0
    messages: int = 0
    plain_fallbacks: int = 0
    errors: list[str] = field(default_factory=list)


def _sleep(seconds: float) -> Awaitable[None]:
    return asyncio.sleep(seconds)


class Dispatcher:
    """Delivers the due digests; see the module documentation."""

    def __init__(
        self,
        store: Store,
        sender: Sender,
        composer: Composer,
        settings: DispatchSettings = DispatchSettings(),
        *,
        worker: str,
        clock: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[None]] = _sleep,
    ) -> None:
        self._store = store
        self._sender = sender
        self._composer = composer
        self._settings = settings
        self._worker = worker
        self._clock = clock
        self._sleep = sleep
        self._limiter = RateLimiter(settings.limits)

    async def run_once(self) -> DispatchReport:
        """Plan, then claim and deliver batches until nothing is claimable now."""
        report = DispatchReport()
        await self.plan(report)
        articles: list[DigestArticle] | None = None
        while True:
            claimed = await self._db(
                self._store.deliveries.claim,
                self._clock(),
                worker=self._worker,
                limit=self._settings.batch,
                lease=self._settings.lease,
            )
            if not claimed:
                return report
            report.claimed += len(claimed)
            if articles is None and any(d.parts is None for d in claimed):
                articles = await self._candidates()
            await self._deliver(claimed, articles or [], report)

    async def plan(self, report: DispatchReport) -> None:
        """Open the ledger rows of every chat that is due and move its schedule on."""
        for _page in range(1000):  # bounded: each page moves its chats into the future
            now = self._clock()
            due = await self._db(self._store.deliveries.schedules, now, limit=_PLAN_PAGE)
            if not due:
                return
            plans = [schedule.plan(chat, now, grace=self._settings.grace) for chat in due]
            report.opened += await self._db(self._store.deliveries.apply, plans, now=now)
            report.skipped += sum(o.skipped for p in plans for o in p.openings)
            if len(due) < _PLAN_PAGE:
                return

    async def _candidates(self) -> list[DigestArticle]:
        oldest = self._clock() - self._settings.selection.max_window
        return await self._db(
            self._store.digest_articles, seen_since=oldest, published_since=oldest
        )

    async def _deliver(
        self, claimed: Sequence[Delivery], articles: Sequence[DigestArticle], report: DispatchReport
    ) -> None:
        now = self._clock()
        chat_ids = [d.chat_id for d in claimed]
        chats = {c.id: c for c in await self._db(_chats, self._store, chat_ids)}
        histories = await self._db(
            self._store.deliveries.history,
            [d.chat_id for d in claimed if d.parts is None],
            since=now - self._settings.selection.max_window - _HISTORY_MARGIN,
        )
        gate = asyncio.Semaphore(self._settings.concurrency)
        ready: list[tuple[Delivery, ChatSettings]] = []
        for delivery in claimed:
            chat = chats.get(delivery.chat_id)
            built = await self._build(delivery, chat, articles, histories, report)
            if built is not None and chat is not None:
                ready.append((built, chat))

        async def one(delivery: Delivery, chat: ChatSettings) -> None:
            async with gate:
                try:
                    await self._send(delivery, chat, report)
                except Exception:
                    # One chat's trouble (the database went away mid-send) must not
                    # cancel the others in flight: this row stays claimed and resumes
                    # after its lease, from its last recorded message.
                    log.exception("delivery %s to chat %s interrupted", delivery.id, chat.id)
                    report.errors.append(f"chat {chat.id}: interrupted")

        async with asyncio.TaskGroup() as group:
            for delivery, chat in ready:
                group.create_task(one(delivery, chat))

    async def _build(
        self,
        delivery: Delivery,
        chat: ChatSettings | None,
        articles: Sequence[DigestArticle],
        histories: dict[int, ChatHistory],
        report: DispatchReport,
    ) -> Delivery | None:
        """The row with its messages fixed, or None when it was closed instead."""
        if chat is None or not chat.active or chat.paused:
            state = DELIVERY_BLOCKED if chat is not None and not chat.active else DELIVERY_SKIPPED
            reason = "the chat is paused" if chat is not None and chat.paused else "no chat"
            await self._finish(delivery, state, reason if chat is None or chat.paused else None)
            return None
        if delivery.parts is None:
            history = histories.get(chat.id, ChatHistory(None, frozenset()))
            digest = select(chat, articles, history, self._clock(), self._settings.selection)
            quiet = digest.is_empty and not self._settings.quiet_day_note
            parts = [] if quiet else self._composer.compose(chat, digest)
            saved = await self._db(
                self._store.deliveries.save_parts,
                delivery.id,
                worker=self._worker,
                parts=parts,
                story_ids=digest.story_ids,
            )
            if saved is None:
                return None
            delivery = saved
        if not delivery.parts:
            await self._finish(delivery, DELIVERY_EMPTY, None)
            report.empty += 1
            return None
        return delivery

    async def _send(self, delivery: Delivery, chat: ChatSettings, report: DispatchReport) -> None:
        parts = delivery.parts or ()
        group = chat.kind in _GROUP_KINDS
        retry = self._settings.retry
        for index in range(delivery.sent_parts, len(parts)):
            plain, failures = False, 0
            while True:
                at = self._limiter.reserve(chat.id, group=group, now=self._clock())
                await self._wait_until(at)
                outcome = await self._sender.send(
                    chat.id,
                    parts[index],
                    plain=plain,
                    footer_language=chat.language if index == len(parts) - 1 else None,
                )
                action = decide(outcome, failures=failures, plain=plain, policy=retry)
                if action.kind is ActionKind.RECORD:
                    report.messages += 1
                    still_ours = await self._db(
                        self._store.deliveries.part_sent,
                        delivery.id,
                        worker=self._worker,
                        index=index,
                        now=self._clock(),
                        lease=self._settings.lease,
                    )
                    if not still_ours:
                        log.warning("delivery %s was taken over: stopping", delivery.id)
                        return
                    break
                if action.kind is ActionKind.WAIT:
                    log.info("chat %s: %s; waiting %s", chat.id, action.reason, action.delay)
                    if action.pause_all:
                        self._limiter.pause(self._clock() + action.delay)
                    else:
                        failures += 1
                        await self._wait_until(self._clock() + action.delay)
                    continue
                if action.kind is ActionKind.PLAIN:
                    log.warning(
                        "chat %s: Telegram refused the markup (%s): sending as plain text",
                        chat.id,
                        action.reason,
                    )
                    report.plain_fallbacks += 1
                    plain = True
                    continue
                await self._close(delivery, chat, action, report)
                return
        report.sent += 1

    async def _close(
        self, delivery: Delivery, chat: ChatSettings, action: Action, report: DispatchReport
    ) -> None:
        """End this worker's hold on the row: requeued, blocked or failed."""
        kind, reason, delay = action.kind, action.reason, action.delay
        now = self._clock()
        if kind is ActionKind.REQUEUE:
            self._limiter.pause(now + delay)
            report.requeued += 1
            await self._db(
                self._store.deliveries.requeue,
                delivery.id,
                worker=self._worker,
                not_before=now + delay,
                error=reason,
                now=now,
            )
        elif kind is ActionKind.BLOCKED:
            log.info("chat %s refuses messages (%s): marked inactive", chat.id, reason)
            report.blocked += 1
            await self._db(self._store.chats.set_active, chat.id, False, now=now)
            await self._finish(delivery, DELIVERY_BLOCKED, reason)
        else:
            log.error("digest for chat %s failed: %s", chat.id, reason)
            report.failed += 1
            report.errors.append(f"chat {chat.id}: {reason}")
            await self._finish(delivery, DELIVERY_FAILED, reason)

    async def _finish(self, delivery: Delivery, state: str, error: str | None) -> None:
        await self._db(
            self._store.deliveries.finish,
            delivery.id,
            worker=self._worker,
            state=state,
            now=self._clock(),
            error=error,
        )

    async def _wait_until(self, moment: datetime) -> None:
        seconds = (moment - self._clock()).total_seconds()
        if seconds > 0:
            await self._sleep(seconds)

    async def _db(self, call: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        return await asyncio.to_thread(partial(call, *args, **kwargs))


def _chats(store: Store, chat_ids: Sequence[int]) -> list[ChatSettings]:
    found = (store.chats.get(chat_id) for chat_id in chat_ids)
    return [chat for chat in found if chat is not None]
