"""The collection scheduler: an APScheduler 3 job that collects what is due.

Each feed carries its own next attempt time (its interval, or a backoff after
failures), so the job only has to wake up regularly and ask the collector to fetch the
feeds that are due. The collector's lock, ``max_instances=1`` and ``coalesce`` make
sure two collections never run at once, however long one takes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from jobs.collect import CollectionBusyError, CollectionReport, Collector

log = logging.getLogger(__name__)

#: How often the scheduler looks for due feeds. Feeds are fetched at their own interval.
TICK = timedelta(minutes=1)
COLLECT_JOB_ID = "collect"


class CollectionScheduler:
    """Owns an :class:`AsyncIOScheduler`; start it inside a running event loop."""

    def __init__(
        self,
        collector: Collector,
        *,
        tick: timedelta = TICK,
        on_report: Callable[[CollectionReport], None] | None = None,
    ) -> None:
        self._collector = collector
        self._tick = tick
        self._on_report = on_report
        self._scheduler = AsyncIOScheduler(timezone=UTC)

    def start(self, *, now: datetime | None = None) -> None:
        """Schedule the collection job (first run right away) and start the scheduler."""
        self._scheduler.add_job(
            self.collect_due,
            IntervalTrigger(seconds=self._tick.total_seconds(), timezone=UTC),
            id=COLLECT_JOB_ID,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=int(self._tick.total_seconds()),
            next_run_time=now or datetime.now(UTC),
        )
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    async def collect_due(self) -> CollectionReport | None:
        """One tick: collect the due feeds. Returns None when a run is already going on."""
        try:
            report = await self._collector.run()
        except CollectionBusyError:
            log.info("collection skipped: the previous one is still running")
            return None
        except Exception:  # the scheduler must survive anything one run throws
            log.exception("collection run failed")
            return None
        if report.feeds:
            log.info(
                "collection done feeds=%d new=%d updated=%d failed=%d",
                len(report.feeds),
                report.new,
                report.updated,
                report.failed,
            )
        if self._on_report is not None:
            self._on_report(report)
        return report
