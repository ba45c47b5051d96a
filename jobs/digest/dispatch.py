"""The dispatcher: plans what is due, claims it from the ledger, builds, sends, records.

One :meth:`Dispatcher.run_once` is one scheduler tick (or ``steppe dispatch --once``):

1. *plan*: chats due now (or never planned) get their ledger rows for the dates that
   came due (:func:`jobs.digest.schedule.plan`; older than the grace period: skipped)
   and their next delivery time, compare-and-set;
2. *claim* a batch of rows under a lease (several workers take disjoint batches);
3. *build* each new row's digest (:func:`jobs.digest.selection.select` from the run's
   :class:`~jobs.digest.selection.Candidates`, then the bot's :class:`Composer`) and
   fix the batch's messages in the ledger, so a resumed row sends the same;
4. *send* each row's messages in order under the :class:`RateLimiter`; Telegram's
   answers are handled by :func:`jobs.digest.policy.decide`, and every message sent is
   recorded before the row's next one goes.

Claiming and building run ahead of sending, so the sending never waits for a batch:
rows are sent as soon as they are built, many at once, and a row holds an HTTP
connection (:attr:`DispatchSettings.concurrency`) only while its request is out and
its message is being recorded, not while it waits the second between two messages to
its chat. Sent messages are recorded many per transaction (group commit): while one
write runs, the messages sent meanwhile queue for the next. So if the process dies,
at most ``concurrency`` messages were accepted by Telegram but not recorded: those are
sent again after the restart (Telegram has no way to make a send idempotent).

It is a thin orchestrator: every decision is in the pure modules. The store is
blocking, so its calls run in worker threads; time comes from ``clock`` and waiting
goes through ``sleep`` (tests pass a fake clock whose sleep just moves it on).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import ParamSpec, Protocol, TypeVar

from jobs.digest import schedule
from jobs.digest.policy import Action, ActionKind, RetryPolicy, Sender, decide
from jobs.digest.ratelimit import Limits, RateLimiter
from jobs.digest.selection import Candidates, Digest, SelectionSettings, select
from jobs.heap import RunHeap
from jobs.telemetry import log_event
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
#: Digests built between two looks at the sending (building is CPU in the event loop).
_BUILD_SLICE = 16
#: How long the recorder gathers sent messages into one transaction.
_GATHER_SECONDS = 0.01


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
    """Requests to Telegram out at once (size the HTTP connection pool to match)."""


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
        """Plan, then claim, build and send until nothing is claimable now."""
        report = DispatchReport()
        await self.plan(report)
        heap = RunHeap()
        try:
            await self._deliver(report, heap)
        finally:
            heap.thaw()
        return report

    async def _deliver(self, report: DispatchReport, heap: RunHeap) -> None:
        """Claim, build and send until nothing is claimable now."""
        run = _Run(self, report)
        candidates: Candidates | None = None
        # Rows are sent as soon as they are built; the batches come on meanwhile.
        async with asyncio.TaskGroup() as group:
            while True:
                # Claim the next batch only when there is room for it: rows wait in
                # this worker's hands no longer than the sending needs.
                await run.room_for(self._settings.batch)
                claimed = await self._db(
                    self._store.deliveries.claim,
                    self._clock(),
                    worker=self._worker,
                    limit=self._settings.batch,
                    lease=self._settings.lease,
                )
                if not claimed:
                    if not run.busy:
                        break
                    # Rows under way may come back claimable now (a chat that moved
                    # to its supergroup's id): look again once they are done.
                    await run.idle()
                    continue
                report.claimed += len(claimed)
                heap.freeze()
                if candidates is None and any(d.parts is None for d in claimed):
                    candidates = Candidates(await self._candidates(), self._clock())
                for delivery, chat in await self._prepare(claimed, candidates, report):
                    run.started()
                    group.create_task(run.deliver(delivery, chat))
        await run.recorder.drain()

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

    async def _prepare(
        self,
        claimed: Sequence[Delivery],
        candidates: Candidates | None,
        report: DispatchReport,
    ) -> list[tuple[Delivery, ChatSettings]]:
        """The claimed rows ready to send, with their chats; the others are closed.

        New rows get their digests built and fixed in the ledger in one transaction.
        """
        now = self._clock()
        chats = await self._db(self._store.chats.many, [d.chat_id for d in claimed])
        histories = await self._db(
            self._store.deliveries.history,
            [d.chat_id for d in claimed if d.parts is None],
            since=now - self._settings.selection.max_window - _HISTORY_MARGIN,
        )
        contents: list[tuple[int, Sequence[str], Sequence[int]]] = []
        for number, delivery in enumerate(claimed, start=1):
            chat = chats.get(delivery.chat_id)
            if chat is None or not chat.active or chat.paused:
                continue
            if delivery.parts is None:
                history = histories.get(chat.id, ChatHistory(None, frozenset()))
                digest = select(
                    chat, candidates or (), history, self._clock(), self._settings.selection
                )
                quiet = digest.is_empty and not self._settings.quiet_day_note
                parts = [] if quiet else self._composer.compose(chat, digest)
                contents.append((delivery.id, parts, digest.story_ids))
                if number % _BUILD_SLICE == 0:
                    await asyncio.sleep(0)  # building is CPU: let the sending go on
        saved = await self._db(self._store.deliveries.save_many, contents, worker=self._worker)
        ready: list[tuple[Delivery, ChatSettings]] = []
        for delivery in claimed:
            chat = chats.get(delivery.chat_id)
            if chat is None or not chat.active or chat.paused:
                state = (
                    DELIVERY_BLOCKED if chat is not None and not chat.active else DELIVERY_SKIPPED
                )
                reason = "the chat is paused" if chat is not None and chat.paused else "no chat"
                await self._finish(delivery, state, reason if chat is None or chat.paused else None)
                continue
            row = delivery if delivery.parts is not None else saved.get(delivery.id)
            if row is None:
                continue  # no longer this worker's (its lease ran out meanwhile)
            if not row.parts:
                await self._finish(row, DELIVERY_EMPTY, None)
                report.empty += 1
                continue
            ready.append((row, chat))
        return ready

    async def _send(
        self,
        delivery: Delivery,
        chat: ChatSettings,
        report: DispatchReport,
        connections: asyncio.Semaphore,
        recorder: _Recorder,
    ) -> None:
        parts = delivery.parts or ()
        group = chat.kind in _GROUP_KINDS
        retry = self._settings.retry
        for index in range(delivery.sent_parts, len(parts)):
            plain, failures = False, 0
            while True:
                at = self._limiter.reserve(chat.id, group=group, now=self._clock())
                await self._wait_until(at)
                async with connections:
                    self._limiter.sent(chat.id, at=self._clock())
                    outcome = await self._sender.send(
                        chat.id,
                        parts[index],
                        plain=plain,
                        footer_language=chat.language if index == len(parts) - 1 else None,
                    )
                    action = decide(
                        outcome,
                        failures=failures,
                        plain=plain,
                        policy=retry,
                        grace_left=delivery.due_at + self._settings.grace - self._clock(),
                    )
                    # The connection is given back only once the message is on record:
                    # if the process dies, at most ``concurrency`` messages were sent
                    # and not recorded (and go again after the restart).
                    recorded = (
                        await recorder.record(delivery.id, index, len(parts))
                        if action.kind is ActionKind.RECORD
                        else None
                    )
                if action.kind is ActionKind.RECORD:
                    report.messages += 1
                    if not recorded:
                        _event("delivery_taken_over", delivery, level=logging.WARNING)
                        return
                    break
                if action.kind is ActionKind.WAIT:
                    _event(
                        "delivery_wait",
                        delivery,
                        level=logging.DEBUG,
                        reason=action.reason,
                        delay=action.delay.total_seconds(),
                    )
                    if action.pause_all:
                        self._limiter.pause(self._clock() + action.delay)
                    else:
                        failures += 1
                        await self._wait_until(self._clock() + action.delay)
                    continue
                if action.kind is ActionKind.PLAIN:
                    _event(
                        "digest_plain_text", delivery, level=logging.WARNING, reason=action.reason
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
        if kind is ActionKind.MOVE and action.moved_to is not None:
            # The group became a supergroup: the chat (settings, ledger) moves to the new
            # id, and the row, given back at once (no delay), is claimed again for it.
            log_event(log, "chat_moved", chat=chat.id, moved_to=action.moved_to)
            await self._db(self._store.chats.migrate, chat.id, action.moved_to, now=now)
        if kind in (ActionKind.MOVE, ActionKind.REQUEUE):
            if action.pause_all:  # flood control holds every chat, a failing chat only itself
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
            log_event(log, "chat_blocked", level=logging.DEBUG, chat=chat.id, reason=reason)
            report.blocked += 1
            await self._db(self._store.chats.set_active, chat.id, False, now=now)
            await self._finish(delivery, DELIVERY_BLOCKED, reason)
        else:
            _event("digest_failed", delivery, level=logging.WARNING, error=reason)
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


class _Recorder:
    """Records sent messages in the ledger, as many per transaction as came meanwhile.

    :meth:`record` returns once the message is written (so a row's next message never
    goes before the last one is on record); the first message starts a write, and the
    ones sent while it runs go together in the next (group commit).
    """

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher
        self._queue: list[tuple[int, int, int, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, delivery_id: int, index: int, parts: int) -> bool:
        """Message ``index`` of the row's ``parts`` went out; False if the row is no
        longer ours."""
        written: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((delivery_id, index, parts, written))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        return await written

    async def drain(self) -> None:
        """Wait for the last write."""
        if self._writer is not None:
            await self._writer

    async def _write(self) -> None:
        dispatcher = self._dispatcher
        while self._queue:
            # A transaction costs about a millisecond of CPU whatever it holds: gather
            # what the other connections send in the next moment (real time, a few
            # milliseconds: not a wait any clock should see).
            await asyncio.sleep(_GATHER_SECONDS)
            batch, self._queue = self._queue, []
            try:
                lost = await dispatcher._db(
                    dispatcher._store.deliveries.parts_sent,
                    [(delivery_id, index, parts) for delivery_id, index, parts, _ in batch],
                    worker=dispatcher._worker,
                    now=dispatcher._clock(),
                    lease=dispatcher._settings.lease,
                )
            except Exception as exc:
                for *_, written in batch:
                    if not written.done():
                        written.set_exception(exc)
                continue
            for delivery_id, _, _, written in batch:
                if not written.done():
                    written.set_result(delivery_id not in lost)


class _Run:
    """One :meth:`Dispatcher.run_once`'s sending: how many rows are under way, the
    connections they share and the recorder."""

    def __init__(self, dispatcher: Dispatcher, report: DispatchReport) -> None:
        settings = dispatcher._settings
        self._dispatcher = dispatcher
        self._report = report
        self.connections = asyncio.Semaphore(settings.concurrency)
        self.recorder = _Recorder(dispatcher)
        # Enough rows under way to keep the rate busy while each waits the interval
        # between its chat's messages, and at least two batches.
        limits = settings.limits
        busy_seconds = max(1.0, limits.chat_interval.total_seconds())
        self._window = max(2 * settings.batch, math.ceil(2 * limits.per_second * busy_seconds))
        self._active = 0
        self._changed = asyncio.Condition()

    async def room_for(self, rows: int) -> None:
        """Wait until ``rows`` more rows fit under the window."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._active + rows <= self._window)

    def started(self) -> None:
        self._active += 1

    @property
    def busy(self) -> bool:
        """Some rows are still under way."""
        return self._active > 0

    async def idle(self) -> None:
        """Wait until no row is under way."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._active == 0)

    async def deliver(self, delivery: Delivery, chat: ChatSettings) -> None:
        """Send one row's messages; one chat's trouble never stops the others."""
        try:
            await self._dispatcher._send(
                delivery, chat, self._report, self.connections, self.recorder
            )
        except Exception:
            # The database went away mid-send, say: this row stays claimed and
            # resumes after its lease, from its last recorded message.
            _event("delivery_interrupted", delivery, level=logging.ERROR, exc_info=True)
            self._report.errors.append(f"chat {chat.id}: interrupted (resumes after the lease)")
        finally:
            async with self._changed:
                self._active -= 1
                self._changed.notify_all()


def _event(
    event: str,
    delivery: Delivery,
    *,
    level: int = logging.INFO,
    exc_info: bool = False,
    **fields: object,
) -> None:
    """One structured line about a row: its chat and edition (local date) first."""
    log_event(
        log,
        event,
        level=level,
        exc_info=exc_info,
        chat=delivery.chat_id,
        edition=delivery.local_date.isoformat(),
        **fields,
    )
