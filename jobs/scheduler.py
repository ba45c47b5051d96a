"""The worker's scheduler: collect what is due and deliver what is due, every minute.

Both are APScheduler 3 interval jobs in the process's event loop, each with
``max_instances=1`` and ``coalesce`` (a slow run is never overlapped, missed ticks are
not replayed). The schedules themselves are data (each feed's next attempt, each chat's
``next_digest_at``), so a tick only asks the :class:`~jobs.collect.Collector` to fetch
the feeds that are due and the :class:`~jobs.digest.dispatch.Dispatcher` to deliver the
digests that are due.

Collection across several workers: each tick tries the cluster-wide lock
``"collect"`` (:meth:`storage.store.Store.exclusive`, a PostgreSQL advisory lock) and
collects only while holding it; the others skip that tick. Delivery needs no such
lock: workers claim disjoint ledger rows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from jobs.collect import CollectionBusyError, CollectionReport, Collector
from jobs.digest.dispatch import Dispatcher, DispatchReport
from jobs.telemetry import log_event
from storage import DatabaseUnavailableError, Store

log = logging.getLogger(__name__)

TICK = timedelta(minutes=1)
COLLECT_LOCK = "collect"
COLLECT_JOB_ID = "collect"
DISPATCH_JOB_ID = "dispatch"


class WorkerScheduler:
    """Owns an :class:`AsyncIOScheduler`; start it inside a running event loop."""

    def __init__(
        self,
        store: Store,
        *,
        dispatcher: Dispatcher | None,
        collector: Collector | None,
        tick: timedelta = TICK,
        after_collect: Callable[[CollectionReport], Awaitable[None]] | None = None,
    ) -> None:
        """``after_collect`` runs after each collection, still under the collection lock
        (metrics, feed alerts); what it raises is logged, never fatal."""
        self._store = store
        self._dispatcher = dispatcher
        self._collector = collector
        self._tick = tick
        self._after_collect = after_collect
        self._scheduler = AsyncIOScheduler(timezone=UTC)

    def start(self, *, now: datetime | None = None) -> None:
        first = now or datetime.now(UTC)
        jobs = (
            (DISPATCH_JOB_ID, self.dispatch_due, self._dispatcher),
            (COLLECT_JOB_ID, self.collect_due, self._collector),
        )
        for job_id, job, needed in jobs:
            if needed is None:
                continue
            self._scheduler.add_job(
                job,
                IntervalTrigger(seconds=self._tick.total_seconds(), timezone=UTC),
                id=job_id,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=int(self._tick.total_seconds()),
                next_run_time=first,
            )
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    async def dispatch_due(self) -> DispatchReport | None:
        """One tick of delivery; the scheduler survives anything a run throws."""
        if self._dispatcher is None:
            return None
        try:
            report = await self._dispatcher.run_once()
        except Exception:
            log.exception("digest dispatch failed (claimed digests resume after their lease)")
            return None
        if report.claimed or report.opened:
            log_event(
                log,
                "dispatch_done",
                opened=report.opened,
                sent=report.sent,
                empty=report.empty,
                requeued=report.requeued,
                failed=report.failed,
                blocked=report.blocked,
                skipped=report.skipped,
                messages=report.messages,
            )
        return report

    async def collect_due(self) -> CollectionReport | None:
        """One collection tick, only while holding the cluster-wide lock.

        Returns the run's report; ``None`` when another worker holds the lock, the
        previous run is still going on, or the run failed (logged).
        """
        if self._collector is None:
            return None
        lock = self._store.exclusive(COLLECT_LOCK)
        held = await asyncio.to_thread(lock.__enter__)
        try:
            if not held:
                log.debug("collection skipped: another worker holds the lock")
                return None
            report = await self._collector.run()
            if self._after_collect is not None:
                try:
                    await self._after_collect(report)
                except Exception:
                    log.exception("after-collection step failed")
        except CollectionBusyError:
            log.info("collection skipped: the previous one is still running")
            return None
        except DatabaseUnavailableError as exc:
            # Not a bug and not the feeds' fault: say what failed; the next tick retries.
            log_event(log, "collection_stopped", level=logging.ERROR, error=str(exc))
            return None
        except Exception:  # the scheduler must survive anything one run throws
            log.exception("collection run failed")
            return None
        finally:
            await asyncio.to_thread(lock.__exit__, None, None, None)
        if report.feeds:
            log_event(
                log,
                "collection_done",
                feeds=len(report.feeds),
                new=report.new,
                updated=report.updated,
                failed=report.failed,
            )
        return report
