"""The worker scheduler: ticks collect what is due, never two runs at once."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

from jobs.collect import CollectionReport
from jobs.scheduler import COLLECT_JOB_ID, WorkerScheduler
from storage import Store
from tests.feedserver import FeedServer
from tests.test_collect import HUB_EN, T0, FakeClock, feed, make_collector, rss


def test_overlapping_ticks_run_one_collection(store: Store) -> None:
    gate = threading.Event()
    with FeedServer() as server:
        route = server.route("/feed.xml", body=rss([HUB_EN]), gate=gate)
        store.sync_feeds([feed("astana", server.url("/feed.xml"))])
        scheduler = WorkerScheduler(
            store, dispatcher=None, collector=make_collector(store, FakeClock(T0))
        )

        async def two_ticks() -> tuple[CollectionReport | None, CollectionReport | None]:
            first = asyncio.create_task(scheduler.collect_due())
            await asyncio.to_thread(route.received.wait, 10)
            second = await scheduler.collect_due()  # while the first is held by the server
            gate.set()
            return await first, second

        first, second = asyncio.run(two_ticks())

    assert second is None
    assert first is not None
    assert first.new == 1
    assert len(server.requests_for("/feed.xml")) == 1


def test_the_job_is_scheduled_once_with_no_overlap(store: Store) -> None:
    scheduler = WorkerScheduler(
        store,
        dispatcher=None,
        collector=make_collector(store, FakeClock(T0)),
        tick=timedelta(minutes=1),
    )

    async def started() -> tuple[int, bool, int]:
        scheduler.start(now=T0 + timedelta(days=3650))  # first run far away: nothing runs
        try:
            job = scheduler._scheduler.get_job(COLLECT_JOB_ID)
            assert job is not None
            return job.max_instances, job.coalesce, int(job.trigger.interval.total_seconds())
        finally:
            scheduler.shutdown()

    assert asyncio.run(started()) == (1, True, 60)
