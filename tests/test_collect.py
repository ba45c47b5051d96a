"""Collection end to end: real HTTP on loopback, a real database, a fake clock."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import sqlite3
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from jobs import fetch, heap
from jobs.classify import Classifier, load_rules
from jobs.collect import (
    CollectionBusyError,
    CollectionReport,
    Collector,
    CollectSettings,
    FeedStatus,
)
from jobs.fetch import FetchSettings
from jobs.reclassify import reclassify_archive
from jobs.scheduler import WorkerScheduler
from jobs.telemetry import EVENT_ATTR, FIELDS_ATTR
from storage import ArticleWriter, ConflictError, DatabaseUnavailableError, FeedSpec, Store
from storage import engine as storage_engine
from tests.conftest import backend
from tests.feedserver import GATE_TIMEOUT, FeedServer

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def rss(items: Sequence[tuple[str, str, str, str]], *, title: str = "Outlet") -> bytes:
    """An RSS 2.0 document of (guid, link, title, summary) items published before T0."""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>',
        f"<title>{title}</title><link>https://outlet.example/</link>",
    ]
    for position, (guid, link, item_title, summary) in enumerate(items):
        published = format_datetime(T0 - timedelta(hours=1 + position))
        parts.append(
            f"<item><guid>{guid}</guid><link>{link}</link><title>{item_title}</title>"
            f"<pubDate>{published}</pubDate><description>{summary}</description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


HUB_EN = (
    "hub-1",
    "https://astana.example/news/hub-1?utm_source=rss",
    "Astana Hub opens a startup campus for 300 IT companies in Almaty",
    "The technology park will host venture funds, startup accelerators and IT "
    "companies from Kazakhstan and Uzbekistan.",
)
SOLAR_EN = (
    "solar-1",
    "https://astana.example/news/solar-1",
    "Masdar to build a 500 MW solar plant in Uzbekistan",
    "The solar power plant near Samarkand will supply electricity to 200,000 homes.",
)
SOLAR_RU = (
    "ru-solar-1",
    "https://tashkent.example/ru/solar-1",
    "Masdar построит солнечную электростанцию на 500 МВт в Узбекистане",
    "Солнечная электростанция в Самаркандской области обеспечит электроэнергией 200 тысяч домов.",
)
MIGRANTS_RU = (
    "ru-migr-1",
    "https://tashkent.example/ru/migr-1",
    "Трудовые мигранты из Узбекистана будут получать пенсии по новому соглашению",
    "Правительство подписало соглашение о пенсионном обеспечении трудовых мигрантов.",
)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def settings() -> CollectSettings:
    return CollectSettings(
        fetch=FetchSettings(retries=0, connect_timeout=2, read_timeout=2, total_timeout=5),
        interval=timedelta(minutes=30),
    )


def make_collector(store: Store, clock: Callable[[], datetime]) -> Collector:
    return Collector(store, Classifier(load_rules()), settings(), clock=clock)


def feed(key: str, url: str, *, language: str | None = "en", country: str = "kz") -> FeedSpec:
    return FeedSpec(key=key, name=key.title(), url=url, language=language, country=country)


def by_key(report: CollectionReport) -> dict[str, object]:
    return {r.key: r for r in report.feeds}


def run(collector: Collector, **kwargs: object) -> CollectionReport:
    return asyncio.run(collector.run(**kwargs))  # type: ignore[arg-type]


def test_first_collection_stores_classified_articles_and_records_health(
    store: Store, server: FeedServer, clock: FakeClock
) -> None:
    server.route("/en.xml", body=rss([HUB_EN, SOLAR_EN]), etag='"en-1"')
    server.route("/ru.xml", body=rss([SOLAR_RU, MIGRANTS_RU]))
    store.sync_feeds(
        [
            feed("astana", server.url("/en.xml")),
            feed("tashkent", server.url("/ru.xml"), language="ru", country="uz"),
        ]
    )

    report = run(make_collector(store, clock))

    assert [(r.key, r.status, r.new) for r in report.feeds] == [
        ("astana", FeedStatus.FETCHED, 2),
        ("tashkent", FeedStatus.FETCHED, 2),
    ]
    assert store.article_count() == 4
    astana = store.feed_state("astana")
    assert astana is not None
    assert astana.last_success_at == T0
    assert astana.consecutive_failures == 0
    assert astana.next_attempt_at == T0 + timedelta(minutes=30)
    assert astana.validators.etag == '"en-1"'

    articles = {a.guid: a for a in store.articles_for_feed(astana.id)}
    # Tracking parameters are gone from the stored URL.
    assert articles["hub-1"].url == "https://astana.example/news/hub-1"
    hub = store.classification_of(articles["hub-1"].id)
    assert hub is not None
    assert "it_hubs" in hub.topics
    assert "kz" in hub.countries


def test_same_event_from_two_outlets_forms_one_story_across_languages(
    store: Store, server: FeedServer, clock: FakeClock
) -> None:
    server.route("/en.xml", body=rss([HUB_EN, SOLAR_EN]))
    server.route("/ru.xml", body=rss([SOLAR_RU, MIGRANTS_RU]))
    store.sync_feeds(
        [
            feed("astana", server.url("/en.xml")),
            feed("tashkent", server.url("/ru.xml"), language="ru", country="uz"),
        ]
    )
    run(make_collector(store, clock))

    ids = _ids_by_guid(store)
    assert store.story_of(ids["solar-1"]) == store.story_of(ids["ru-solar-1"])
    assert store.story_of(ids["hub-1"]) != store.story_of(ids["solar-1"])
    assert store.story_of(ids["ru-migr-1"]) not in {
        store.story_of(ids["solar-1"]),
        store.story_of(ids["hub-1"]),
    }


def test_collecting_again_never_duplicates_and_uses_conditional_get(
    store: Store, server: FeedServer, clock: FakeClock
) -> None:
    server.route("/etag.xml", body=rss([HUB_EN]), etag='"v1"')
    server.route("/plain.xml", body=rss([MIGRANTS_RU]))
    store.sync_feeds(
        [feed("etag", server.url("/etag.xml")), feed("plain", server.url("/plain.xml"))]
    )
    collector = make_collector(store, clock)
    run(collector)

    clock.now += timedelta(hours=1)
    again = by_key(run(collector))

    assert again["etag"].status is FeedStatus.NOT_MODIFIED  # type: ignore[attr-defined]
    assert again["plain"].status is FeedStatus.UNCHANGED  # type: ignore[attr-defined]
    assert server.requests_for("/etag.xml")[-1].headers["if-none-match"] == '"v1"'
    assert store.article_count() == 2


def test_an_edited_article_is_updated_and_a_new_one_added(
    store: Store, server: FeedServer, clock: FakeClock
) -> None:
    server.route("/feed.xml", body=rss([HUB_EN]))
    store.sync_feeds([feed("astana", server.url("/feed.xml"))])
    collector = make_collector(store, clock)
    run(collector)

    edited = (HUB_EN[0], HUB_EN[1], HUB_EN[2] + " (updated)", HUB_EN[3])
    server.route("/feed.xml", body=rss([edited, SOLAR_EN]))
    clock.now += timedelta(hours=1)
    report = run(collector)

    assert (report.feeds[0].new, report.feeds[0].updated) == (1, 1)
    assert store.article_count() == 2
    state = store.feed_state("astana")
    assert state is not None
    titles = {a.guid for a in store.articles_for_feed(state.id)}
    assert titles == {"hub-1", "solar-1"}


def test_the_same_url_in_two_feeds_is_stored_once(
    store: Store, server: FeedServer, clock: FakeClock
) -> None:
    syndicated = ("other-guid", HUB_EN[1].replace("?utm_source=rss", "?fbclid=x"), *HUB_EN[2:])
    server.route("/a.xml", body=rss([HUB_EN]))
    server.route("/b.xml", body=rss([syndicated, SOLAR_EN]))
    store.sync_feeds([feed("a", server.url("/a.xml")), feed("b", server.url("/b.xml"))])

    report = by_key(run(make_collector(store, clock)))

    assert store.article_count() == 2
    assert report["a"].new + report["b"].new == 2  # type: ignore[attr-defined]


def test_a_broken_feed_is_recorded_and_the_others_are_collected(
    store: Store, server: FeedServer, clock: FakeClock
) -> None:
    server.route("/good.xml", body=rss([HUB_EN]))
    server.route("/gone.xml", body=b"not here", status=404)
    server.route(
        "/page.xml",
        body=b"<html><body><h1>Welcome</h1></body></html>",
        content_type="text/html; charset=utf-8",
    )
    store.sync_feeds(
        [
            feed("good", server.url("/good.xml")),
            feed("gone", server.url("/gone.xml")),
            feed("page", server.url("/page.xml")),
        ]
    )

    report = by_key(run(make_collector(store, clock)))

    assert report["good"].status is FeedStatus.FETCHED  # type: ignore[attr-defined]
    assert report["gone"].status is FeedStatus.FAILED  # type: ignore[attr-defined]
    assert "404" in (report["gone"].error or "")  # type: ignore[attr-defined]
    assert report["page"].status is FeedStatus.FAILED  # type: ignore[attr-defined]
    assert store.article_count() == 1
    gone = store.feed_state("gone")
    assert gone is not None
    assert gone.consecutive_failures == 1
    assert "404" in (gone.last_error or "")
    # Failing feeds back off: the first retry after one interval, then twice that.
    assert gone.next_attempt_at == T0 + timedelta(minutes=30)
    clock.now = T0 + timedelta(minutes=30)
    run(make_collector(store, clock))
    gone = store.feed_state("gone")
    assert gone is not None
    assert gone.consecutive_failures == 2
    assert gone.next_attempt_at == clock.now + timedelta(minutes=60)


def test_each_feed_logs_one_event_quiet_at_info_and_failures_warn(
    store: Store, server: FeedServer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    server.route("/good.xml", body=rss([HUB_EN]))
    server.route("/gone.xml", body=b"not here", status=404)
    store.sync_feeds([feed("good", server.url("/good.xml")), feed("gone", server.url("/gone.xml"))])

    with caplog.at_level(logging.DEBUG, logger="jobs.collect"):
        run(make_collector(store, clock))

    lines = [r for r in caplog.records if r.name == "jobs.collect"]
    assert len(lines) == 2  # one per feed
    events = {
        getattr(r, FIELDS_ATTR)["feed"]: (r.levelno, getattr(r, EVENT_ATTR), r.getMessage())
        for r in lines
    }
    assert events["good"][:2] == (logging.DEBUG, "feed_collected")
    assert "status=fetched new=1" in events["good"][2]
    assert events["gone"][:2] == (logging.WARNING, "feed_failed")
    assert "404" in events["gone"][2]


def test_feeds_are_fetched_only_when_due(
    store: Store, server: FeedServer, clock: FakeClock
) -> None:
    server.route("/feed.xml", body=rss([HUB_EN]))
    store.sync_feeds([feed("astana", server.url("/feed.xml"))])
    collector = make_collector(store, clock)
    run(collector)

    clock.now += timedelta(minutes=10)
    early = run(collector)
    assert (early.feeds, early.not_due) == ((), 1)
    assert len(server.requests_for("/feed.xml")) == 1

    clock.now += timedelta(minutes=25)
    due = run(collector)
    assert [r.status for r in due.feeds] == [FeedStatus.UNCHANGED]
    assert len(server.requests_for("/feed.xml")) == 2


def next_attempt(store: Store) -> datetime | None:
    (state,) = store.feed_states()
    return state.next_attempt_at


def test_a_feed_is_fetched_again_when_its_outlet_says_it_is_stale(
    store: Store, server: FeedServer, clock: FakeClock
) -> None:
    # 90 minutes of freshness (Cache-Control less Age), where our interval is 30.
    server.route(
        "/feed.xml",
        body=rss([HUB_EN]),
        etag='"v1"',
        headers={"Cache-Control": "max-age=6000", "Age": "600"},
    )
    store.sync_feeds([feed("astana", server.url("/feed.xml"))])
    collector = make_collector(store, clock)

    run(collector)
    assert next_attempt(store) == T0 + timedelta(minutes=90)

    clock.now = T0 + timedelta(minutes=60)
    assert run(collector).not_due == 1  # past our interval, not past the outlet's
    assert len(server.requests_for("/feed.xml")) == 1

    clock.now = T0 + timedelta(minutes=90)
    assert [r.status for r in run(collector).feeds] == [FeedStatus.NOT_MODIFIED]
    # The 304 said the same: another 90 minutes.
    assert next_attempt(store) == clock.now + timedelta(minutes=90)


def test_a_feeds_own_ttl_counts_up_to_the_configured_ceiling(
    store: Store, server: FeedServer, clock: FakeClock
) -> None:
    body = rss([HUB_EN]).replace(b"<title>Outlet</title>", b"<title>Outlet</title><ttl>1440</ttl>")
    server.route("/feed.xml", body=body)
    store.sync_feeds([feed("astana", server.url("/feed.xml"))])

    run(make_collector(store, clock))

    # A day asked for, two hours (the default ceiling) granted.
    assert next_attempt(store) == T0 + timedelta(hours=2)


def test_the_outlets_hints_can_be_switched_off(
    store: Store, server: FeedServer, clock: FakeClock
) -> None:
    server.route("/feed.xml", body=rss([HUB_EN]), headers={"Cache-Control": "max-age=5400"})
    store.sync_feeds([feed("astana", server.url("/feed.xml"))])
    ignoring = dataclasses.replace(settings(), max_refresh_hint=timedelta(0))

    run(Collector(store, Classifier(load_rules()), ignoring, clock=clock))

    assert next_attempt(store) == T0 + timedelta(minutes=30)


def test_a_run_keeps_the_cyclic_collector_off_what_it_allocates_until_it_ends(
    store: Store, server: FeedServer
) -> None:
    server.route("/feed.xml", body=rss([HUB_EN, SOLAR_EN]))
    store.sync_feeds([feed("astana", server.url("/feed.xml"))])
    thresholds: list[int] = []

    def clock() -> datetime:  # called at the start and the end of the run, and while storing
        thresholds.append(gc.get_threshold()[0])
        return T0

    before = gc.get_threshold()
    report = run(make_collector(store, clock))
    assert report.new == 2
    assert thresholds
    assert set(thresholds) == {max(before[0], heap.BULK_THRESHOLD)}
    assert gc.get_threshold() == before


def test_starting_the_collector_loads_the_certificates_so_the_first_run_does_not(
    store: Store, server: FeedServer, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[bool] = []
    real = httpx.create_ssl_context

    def counted(**kwargs: Any) -> ssl.SSLContext:
        loads.append(True)
        return real(**kwargs)

    monkeypatch.setattr(httpx, "create_ssl_context", counted)
    fetch._tls_context.cache_clear()  # other tests of this process loaded them already
    server.route("/feed.xml", body=rss([HUB_EN]))
    store.sync_feeds([feed("astana", server.url("/feed.xml"))])
    collector = make_collector(store, clock)

    collector.start()
    assert len(loads) == 1
    assert run(collector).new == 1
    assert len(loads) == 1


def test_two_collections_never_run_at_once(
    store: Store, server: FeedServer, clock: FakeClock
) -> None:
    gate = threading.Event()
    route = server.route("/slow.xml", body=rss([HUB_EN]), gate=gate)
    store.sync_feeds([feed("slow", server.url("/slow.xml"))])
    collector = make_collector(store, clock)

    async def both() -> tuple[CollectionReport, BaseException | None]:
        first = asyncio.create_task(collector.run())
        await asyncio.to_thread(route.received.wait, 10)
        error: BaseException | None = None
        try:
            await collector.run()
        except CollectionBusyError as exc:
            error = exc
        gate.set()
        return await first, error

    report, error = asyncio.run(both())
    assert isinstance(error, CollectionBusyError)
    assert report.new == 1


def test_a_feed_that_hangs_does_not_hold_back_the_articles_of_the_others(
    store: Store, server: FeedServer, clock: FakeClock
) -> None:
    # The collector stores bodies that arrive together in one transaction, waiting a
    # little for more; a feed that is still downloading must not keep the others'
    # articles out of the archive (and out of /find) until it ends.
    gate = threading.Event()
    server.route("/fast.xml", body=rss([HUB_EN]))
    slow = server.route("/slow.xml", body=rss([MIGRANTS_RU]), gate=gate)
    store.sync_feeds([feed("fast", server.url("/fast.xml")), feed("slow", server.url("/slow.xml"))])
    patient = FetchSettings(retries=0, connect_timeout=2, read_timeout=60, total_timeout=60)
    collector = Collector(
        store, Classifier(load_rules()), CollectSettings(fetch=patient), clock=clock
    )

    def stored_while_the_slow_feed_hangs() -> int:
        # Well within the server's hold on the slow feed (GATE_TIMEOUT) and the
        # collector's read timeout: the slow feed is still downloading throughout.
        deadline = time.monotonic() + GATE_TIMEOUT - 2
        while store.article_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.01)  # polling the archive, not timing a result
        assert slow.received.is_set()
        return store.article_count()

    async def collect() -> tuple[int, CollectionReport]:
        task = asyncio.create_task(collector.run())
        try:
            seen = await asyncio.to_thread(stored_while_the_slow_feed_hangs)
        finally:
            gate.set()
        return seen, await task

    seen, report = asyncio.run(collect())
    assert seen == 1
    assert {r.key: (r.status, r.new) for r in report.feeds} == {
        "fast": (FeedStatus.FETCHED, 1),
        "slow": (FeedStatus.FETCHED, 1),
    }
    assert store.article_count() == 2


def test_a_collection_deletes_what_the_archive_no_longer_keeps_and_stores_nothing_older(
    store: Store, server: FeedServer, clock: FakeClock
) -> None:
    later = T0 + timedelta(days=10)

    def item(entry: tuple[str, str, str, str], published: datetime | None) -> str:
        guid, link, title, summary = entry
        date = f"<pubDate>{format_datetime(published)}</pubDate>" if published else ""
        return (
            f"<item><guid>{guid}</guid><link>{link}</link><title>{title}</title>{date}"
            f"<description>{summary}</description></item>"
        )

    undated = (
        "undated-1",
        "https://astana.example/news/undated-1",
        "Kazakhstan opens a data centre for e-government services in Karaganda",
        "The data centre will host the e-government systems of the region.",
    )
    ten_days_on = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Outlet</title>'
        + item(HUB_EN, T0 - timedelta(hours=1))  # still in the feed, past keeping now
        + item(MIGRANTS_RU, later - timedelta(hours=1))
        + item(undated, None)  # no date: first seen now, kept
        + "</channel></rss>"
    ).encode()
    server.route("/feed.xml", bodies=[rss([HUB_EN, SOLAR_EN]), ten_days_on])
    store.sync_feeds([feed("astana", server.url("/feed.xml"))])
    collector = Collector(
        store,
        Classifier(load_rules()),
        dataclasses.replace(settings(), keep=timedelta(days=7)),
        clock=clock,
    )

    first = run(collector, force=True)
    assert (first.new, first.pruned) == (2, 0)
    assert store.find("Astana Hub campus", now=T0).hits

    clock.now = later
    report = run(collector, force=True)
    [astana] = report.feeds
    assert (astana.new, astana.expired, report.pruned) == (2, 1, 2)
    assert store.article_count() == 2
    assert not store.find("Astana Hub campus", now=later).hits
    assert not store.find("Masdar solar", now=later).hits
    assert store.find("Karaganda data centre", now=later).hits
    assert store.find("мигранты пенсии", now=later).hits


def test_reclassify_applies_changed_rules_to_the_archive(
    store: Store, server: FeedServer, clock: FakeClock
) -> None:
    server.route("/feed.xml", body=rss([MIGRANTS_RU], title="Tashkent"))
    store.sync_feeds([feed("t", server.url("/feed.xml"), language="ru", country="uz")])
    run(make_collector(store, clock))
    article_id = _ids_by_guid(store)["ru-migr-1"]
    before = store.classification_of(article_id)
    assert before is not None
    assert "energy" not in before.topics

    rules = load_rules({"topics": {"energy": {"add_keywords": {"ru": {"пенсия": 5.0}}}}})
    report = reclassify_archive(store, Classifier(rules))

    assert report.articles == 1
    after = store.classification_of(article_id)
    assert after is not None
    assert "energy" in after.topics


def _ids_by_guid(store: Store) -> dict[str, int]:
    ids: dict[str, int] = {}
    for state in store.feed_states():
        for article in store.articles_for_feed(state.id):
            ids[article.guid] = article.id
    return ids


class _CountedStore:
    """Counts the collector's write transactions and refuses the articles of the feed
    ``refuse`` (as a database refusing a row would)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, store: Store, *, refuse: str = "") -> None:
        self.transactions = 0
        refused = {state.id for state in store.feed_states() if state.spec.key == refuse}
        article_writer = Store.article_writer
        save_articles = ArticleWriter.save_articles

        @contextlib.contextmanager
        def counting_writer(store: Store) -> Iterator[ArticleWriter]:
            self.transactions += 1
            with article_writer(store) as writer:
                yield writer

        def refusing_save(writer: ArticleWriter, feed_id: int, *args: Any, **kw: Any) -> Any:
            if feed_id in refused:
                raise ConflictError("refused for the test")
            return save_articles(writer, feed_id, *args, **kw)

        monkeypatch.setattr(Store, "article_writer", counting_writer)
        monkeypatch.setattr(ArticleWriter, "save_articles", refusing_save)


def test_feeds_ready_together_are_stored_together_and_join_stories(
    store: Store, server: FeedServer, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.route("/first.xml", body=rss([HUB_EN]))
    server.route("/en.xml", body=rss([SOLAR_EN]))
    server.route("/ru.xml", body=rss([SOLAR_RU]))
    store.sync_feeds(
        [
            feed("first", server.url("/first.xml")),
            feed("en", server.url("/en.xml")),
            feed("ru", server.url("/ru.xml"), language="ru", country="uz"),
        ]
    )
    counted = _CountedStore(monkeypatch, store)

    report = by_key(run(make_collector(store, clock)))

    # Small bodies that arrive while others are being fetched wait for them.
    assert counted.transactions == 1
    assert {key: r.new for key, r in report.items()} == {"first": 1, "en": 1, "ru": 1}  # type: ignore[attr-defined]
    ids = _ids_by_guid(store)
    # The Russian article joined the story of the English one stored before it in the
    # same transaction (which of the two came first depends on the fetches).
    assert store.story_of(ids["solar-1"]) == store.story_of(ids["ru-solar-1"])
    assert store.story_of(ids["hub-1"]) != store.story_of(ids["solar-1"])


def test_a_feed_that_cannot_be_stored_costs_the_others_of_its_batch_nothing(
    store: Store,
    server: FeedServer,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.route("/first.xml", body=rss([HUB_EN]))
    server.route("/en.xml", body=rss([SOLAR_EN]))
    server.route("/bad.xml", body=rss([MIGRANTS_RU]))
    server.route("/ru.xml", body=rss([SOLAR_RU]))
    store.sync_feeds(
        [
            feed("first", server.url("/first.xml")),
            feed("en", server.url("/en.xml")),
            feed("bad", server.url("/bad.xml"), language="ru", country="uz"),
            feed("ru", server.url("/ru.xml"), language="ru", country="uz"),
        ]
    )
    counted = _CountedStore(monkeypatch, store, refuse="bad")

    with caplog.at_level(logging.WARNING, logger="jobs.collect"):
        report = by_key(run(make_collector(store, clock)))

    # The batch of four failed as a whole, then each feed was stored alone.
    assert counted.transactions == 1 + 4
    events = [getattr(r, EVENT_ATTR, None) for r in caplog.records]
    assert events.count("store_batch_failed") == 1
    bad = report["bad"]
    assert bad.status is FeedStatus.FAILED  # type: ignore[attr-defined]
    assert "refused for the test" in (bad.error or "")  # type: ignore[attr-defined]
    assert {key: r.new for key, r in report.items() if key != "bad"} == {  # type: ignore[attr-defined]
        "first": 1,
        "en": 1,
        "ru": 1,
    }
    assert store.article_count() == 3
    ids = _ids_by_guid(store)
    assert "ru-migr-1" not in ids
    assert store.story_of(ids["solar-1"]) == store.story_of(ids["ru-solar-1"])
    # The failed feed is fetched in full again next time (its validators stay unset).
    state = store.feed_state("bad")
    assert state is not None
    assert state.validators.etag is None
    assert state.consecutive_failures == 1


def test_a_database_locked_past_its_timeout_stops_the_run_and_blames_no_feed(
    database_url: str,
    server: FeedServer,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if backend() != "sqlite":
        pytest.skip("a SQLite fault: another process holds the write lock past the busy timeout")
    # Another program holds SQLite's write lock for longer than the store waits for it.
    monkeypatch.setattr(storage_engine, "SQLITE_BUSY_TIMEOUT_MS", 50)
    server.route("/en.xml", body=rss([HUB_EN]))
    server.route("/ru.xml", body=rss([SOLAR_RU]))
    store = Store.open(database_url, upgrade=False)
    try:
        store.sync_feeds(
            [feed("en", server.url("/en.xml")), feed("ru", server.url("/ru.xml"), language="ru")]
        )
        with (
            _sqlite_locked_by_another_connection(database_url),
            pytest.raises(DatabaseUnavailableError, match="database is locked"),
        ):
            run(make_collector(store, clock))

        # The outage was not the feeds' failure: no error, no backoff, nothing to alert
        # about; and nothing was half-stored.
        for key in ("en", "ru"):
            state = store.feed_state(key)
            assert state is not None
            assert (state.consecutive_failures, state.last_error) == (0, None)
            assert state.validators.etag is None
        assert store.article_count() == 0

        # The scheduler says what failed, in one line, and its next tick collects all.
        scheduler = WorkerScheduler(store, dispatcher=None, collector=make_collector(store, clock))
        with (
            _sqlite_locked_by_another_connection(database_url),
            caplog.at_level(logging.ERROR, "jobs.scheduler"),
        ):
            ticked = asyncio.run(scheduler.collect_due())
        assert ticked is None
        [stopped] = [
            r for r in caplog.records if getattr(r, EVENT_ATTR, None) == "collection_stopped"
        ]
        assert "database is locked" in stopped.getMessage()
        assert not stopped.exc_info  # no traceback: nothing is broken in the code

        report = run(make_collector(store, clock))
        assert (report.failed, report.new) == (0, 2)
    finally:
        store.close()


@contextlib.contextmanager
def _sqlite_locked_by_another_connection(database_url: str) -> Iterator[None]:
    """SQLite's write lock, held by a connection of its own (as another program would)."""
    holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield
        holder.execute("ROLLBACK")
    finally:
        holder.close()
