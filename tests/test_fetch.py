"""The feed fetcher against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from jobs.fetch import (
    DEFAULT_USER_AGENT,
    RETRY_AFTER_CEILING,
    FeedFetcher,
    FetchResult,
    FetchSettings,
    FetchStatus,
    parse_freshness,
    parse_retry_after,
    redact_url,
)
from storage.records import Validators
from tests.feedserver import FeedServer, Route

RSS_EN = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Steppe Tech Wire</title>
<link>https://example.kz/</link><description>Tech news from Kazakhstan</description>
<item><title>Astana Hub admits 40 startups to its spring acceleration track</title>
<link>https://example.kz/news/astana-hub-spring-track</link>
<pubDate>Mon, 03 Mar 2025 08:15:00 +0500</pubDate>
<description>Teams from Almaty, Shymkent and Tashkent will work on fintech and
agritech products for twelve weeks.</description></item>
</channel></rss>
"""

RSS_RU = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Энергия Центральной Азии</title>
<link>https://example.uz/</link><description>Новости энергетики</description>
<item><title>Узбекистан запустил солнечную станцию мощностью 220 МВт в Самаркандской области</title>
<link>https://example.uz/ru/news/samarkand-solar-220</link>
<pubDate>Tue, 04 Mar 2025 10:30:00 +0500</pubDate>
<description>Станция обеспечит электроэнергией около 100 тысяч домохозяйств.</description>
</item></channel></rss>
""".encode()

ETAG = '"kz-2025-03-03-a"'
LAST_MODIFIED = "Mon, 03 Mar 2025 03:20:00 GMT"

#: Real timeouts short enough for tests; retries and waits go through a fake sleep.
FAST = FetchSettings(connect_timeout=2.0, read_timeout=2.0, total_timeout=5.0)


class FakeSleep:
    """Records requested waits instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)  # still yield to other tasks, as a real sleep would


def fetch(
    url: str,
    validators: Validators | None = None,
    *,
    settings: FetchSettings = FAST,
    sleep: FakeSleep | None = None,
) -> FetchResult:
    async def run() -> FetchResult:
        async with FeedFetcher(settings, sleep=sleep or FakeSleep()) as fetcher:
            return await fetcher.fetch(url, validators or Validators())

    return asyncio.run(run())


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running
    assert not running.errors


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- success, conditional GET, unchanged bodies ---------------------------------------


def test_first_fetch_returns_the_body_and_new_validators(server: FeedServer) -> None:
    server.route("/feed.xml", RSS_EN, etag=ETAG, last_modified=LAST_MODIFIED)

    result = fetch(server.url("/feed.xml"))

    assert result.status is FetchStatus.FETCHED
    assert result.ok
    assert result.body == RSS_EN
    assert result.http_status == 200
    assert result.content_type == "application/rss+xml; charset=utf-8"
    assert result.validators == Validators(
        etag=ETAG, last_modified=LAST_MODIFIED, body_sha256=sha256(RSS_EN)
    )
    assert result.final_url == server.url("/feed.xml")
    assert (result.error_kind, result.error, result.attempts) == (None, None, 1)


def test_a_response_carries_how_long_the_outlet_says_it_stays_current(
    server: FeedServer,
) -> None:
    server.route(
        "/feed.xml",
        RSS_EN,
        etag=ETAG,
        headers={"Cache-Control": "public, max-age=5400", "Age": "400"},
    )
    server.route(
        "/expires.xml",
        RSS_EN,
        headers={
            "Date": "Tue, 04 Mar 2025 09:00:00 GMT",
            "Expires": "Tue, 04 Mar 2025 10:00:00 GMT",
        },
    )
    server.route("/plain.xml", RSS_EN)

    first = fetch(server.url("/feed.xml"))
    again = fetch(server.url("/feed.xml"), first.validators)  # a 304 says it too
    dated = fetch(server.url("/expires.xml"))
    silent = fetch(server.url("/plain.xml"))

    assert (first.status, first.fresh_for) == (FetchStatus.FETCHED, 5000.0)
    assert (again.status, again.fresh_for) == (FetchStatus.NOT_MODIFIED, 5000.0)
    assert dated.fresh_for == 3600.0  # measured from the response's Date, not our clock
    assert silent.fresh_for is None


def test_a_feed_reached_through_permanent_redirects_only_has_moved(server: FeedServer) -> None:
    server.route("/feed.xml", RSS_EN, etag=ETAG)
    server.route("/rss", status=301, redirect_to="/rss/")
    server.route("/rss/", status=308, redirect_to="/feed.xml")
    server.route("/latest", status=302, redirect_to="/feed.xml")
    server.route("/old", status=301, redirect_to="/latest")

    moved = fetch(server.url("/rss"))
    again = fetch(server.url("/rss"), moved.validators)  # a 304 at the end says it too
    temporary = fetch(server.url("/latest"))
    mixed = fetch(server.url("/old"))
    direct = fetch(server.url("/feed.xml"))

    assert (moved.status, moved.moved_to) == (FetchStatus.FETCHED, server.url("/feed.xml"))
    assert (again.status, again.moved_to) == (FetchStatus.NOT_MODIFIED, server.url("/feed.xml"))
    assert (temporary.status, temporary.moved_to) == (FetchStatus.FETCHED, None)  # 302
    assert (mixed.status, mixed.moved_to) == (FetchStatus.FETCHED, None)
    assert direct.moved_to is None


def test_second_fetch_sends_validators_and_gets_not_modified(server: FeedServer) -> None:
    server.route("/feed.xml", RSS_EN, etag=ETAG, last_modified=LAST_MODIFIED)
    first = fetch(server.url("/feed.xml"))
    assert first.validators is not None

    second = fetch(server.url("/feed.xml"), first.validators)

    assert second.status is FetchStatus.NOT_MODIFIED
    assert second.ok
    assert second.http_status == 304
    assert second.body is None
    assert second.validators == first.validators
    sent = server.requests_for("/feed.xml")[1].headers
    assert sent["if-none-match"] == ETAG
    assert sent["if-modified-since"] == LAST_MODIFIED


def test_not_modified_answers_leave_their_connection_open_for_the_next_feed(
    server: FeedServer,
) -> None:
    # A re-collection where nothing changed is mostly 304s: each must not cost a new
    # connection (that was most of such a run's time).
    server.keep_alive = True
    paths = [f"/feed-{n}.xml" for n in range(8)]
    for path in paths:
        server.route(path, RSS_EN, etag=f'"{path}"')
    settings = replace(FAST, max_connections=2, max_per_host=2)

    async def run(known: list[Validators]) -> list[FetchResult]:
        async with FeedFetcher(settings, sleep=FakeSleep()) as fetcher:
            fetches = [fetcher.fetch(server.url(p), v) for p, v in zip(paths, known, strict=True)]
            return await asyncio.gather(*fetches)

    first = asyncio.run(run([Validators()] * len(paths)))
    again = asyncio.run(run([result.validators or Validators() for result in first]))

    assert [result.status for result in again] == [FetchStatus.NOT_MODIFIED] * len(paths)
    second_round = [server.requests_for(path)[1] for path in paths]
    assert all(request.status == 304 for request in second_round)
    assert len({request.client_port for request in second_round}) <= 2


def test_last_modified_alone_is_enough_for_not_modified(server: FeedServer) -> None:
    server.route("/feed.xml", RSS_RU, last_modified=LAST_MODIFIED)

    result = fetch(server.url("/feed.xml"), Validators(last_modified=LAST_MODIFIED))

    assert result.status is FetchStatus.NOT_MODIFIED
    assert "if-none-match" not in server.requests[0].headers


def test_first_fetch_sends_no_conditional_headers(server: FeedServer) -> None:
    server.route("/feed.xml", RSS_EN, etag=ETAG, last_modified=LAST_MODIFIED)

    fetch(server.url("/feed.xml"))

    headers = server.requests[0].headers
    assert "if-none-match" not in headers
    assert "if-modified-since" not in headers


def test_byte_identical_body_without_validators_is_unchanged(server: FeedServer) -> None:
    server.route("/feed.xml", RSS_EN)  # a server that sends neither ETag nor Last-Modified

    result = fetch(server.url("/feed.xml"), Validators(body_sha256=sha256(RSS_EN)))

    assert result.status is FetchStatus.UNCHANGED
    assert result.ok
    assert result.body is None
    assert result.validators == Validators(body_sha256=sha256(RSS_EN))


def test_a_changed_body_is_fetched_again(server: FeedServer) -> None:
    server.route("/feed.xml", RSS_RU)

    result = fetch(server.url("/feed.xml"), Validators(body_sha256=sha256(RSS_EN)))

    assert result.status is FetchStatus.FETCHED
    assert result.body == RSS_RU
    assert result.validators is not None
    assert result.validators.body_sha256 == sha256(RSS_RU)


def test_user_agent_and_accept_are_sent(server: FeedServer) -> None:
    server.route("/feed.xml", RSS_EN)

    fetch(server.url("/feed.xml"))

    headers = server.requests[0].headers
    assert headers["user-agent"] == DEFAULT_USER_AGENT
    assert headers["accept"].startswith("application/rss+xml, application/atom+xml")
    assert "gzip" in headers["accept-encoding"]


# -- HTTP errors and retries ----------------------------------------------------------


def test_not_found_fails_at_once_without_retry(server: FeedServer) -> None:
    sleep = FakeSleep()

    result = fetch(server.url("/gone.xml"), sleep=sleep)

    assert result.status is FetchStatus.FAILED
    assert not result.ok
    assert (result.error_kind, result.error) == ("http_status", "HTTP 404 Not Found")
    assert (result.http_status, result.attempts, result.validators) == (404, 1, None)
    assert len(server.requests) == 1
    assert sleep.delays == []


def test_server_errors_are_retried_with_growing_backoff(server: FeedServer) -> None:
    server.route("/feed.xml", RSS_EN, status=[500, 500, 200])
    sleep = FakeSleep()

    result = fetch(server.url("/feed.xml"), sleep=sleep)

    assert result.status is FetchStatus.FETCHED
    assert result.body == RSS_EN
    assert result.attempts == 3
    assert len(server.requests) == 3
    assert sleep.delays == [1.0, 2.0]


def test_persistent_server_error_gives_up_after_the_retries(server: FeedServer) -> None:
    server.route("/feed.xml", status=503)
    sleep = FakeSleep()

    result = fetch(server.url("/feed.xml"), settings=replace(FAST, retries=3), sleep=sleep)

    assert (result.status, result.error_kind) == (FetchStatus.FAILED, "http_status")
    assert result.error == "HTTP 503 Service Unavailable"
    assert result.attempts == 4
    assert sleep.delays == [1.0, 2.0, 4.0]


def test_short_retry_after_is_waited_for(server: FeedServer) -> None:
    server.route("/feed.xml", RSS_EN, status=[429, 200], retry_after="3")
    sleep = FakeSleep()

    result = fetch(server.url("/feed.xml"), sleep=sleep)

    assert result.status is FetchStatus.FETCHED
    assert result.attempts == 2
    assert sleep.delays == [3.0]


def test_long_retry_after_is_reported_instead_of_waited_for(server: FeedServer) -> None:
    server.route("/feed.xml", RSS_EN, status=[429, 200], retry_after="3600")
    sleep = FakeSleep()

    result = fetch(server.url("/feed.xml"), sleep=sleep)

    assert result.status is FetchStatus.FAILED
    assert result.error_kind == "rate_limited"
    assert result.error == "HTTP 429 Too Many Requests (retry after 3600 s)"
    assert result.retry_after == 3600.0
    assert result.attempts == 1
    assert sleep.delays == []
    assert len(server.requests) == 1


def test_retry_after_date_is_measured_from_the_response_date(server: FeedServer) -> None:
    server.route(
        "/feed.xml",
        RSS_EN,
        status=[503, 200],
        retry_after="Tue, 04 Mar 2025 09:00:45 GMT",
        headers={"Date": "Tue, 04 Mar 2025 09:00:00 GMT"},
    )
    sleep = FakeSleep()

    result = fetch(server.url("/feed.xml"), sleep=sleep)

    assert result.status is FetchStatus.FETCHED
    assert sleep.delays == [45.0]


# -- time, size and redirect limits ---------------------------------------------------


def test_a_server_slow_to_answer_hits_the_read_timeout(server: FeedServer) -> None:
    server.route("/feed.xml", RSS_EN, delay=2.0)
    settings = replace(FAST, read_timeout=0.2, retries=1)
    sleep = FakeSleep()

    result = fetch(server.url("/feed.xml"), settings=settings, sleep=sleep)

    assert (result.status, result.error_kind) == (FetchStatus.FAILED, "timeout")
    assert result.error == "timed out after 0.2 s waiting for data"
    assert result.attempts == 2  # a timeout is transient: retried once
    assert sleep.delays == [1.0]


def test_a_trickling_body_hits_the_total_deadline() -> None:
    body = RSS_EN * 20
    with FeedServer() as server:
        # One byte every 20 ms keeps the read timeout happy for ~60 s.
        server.route("/feed.xml", body, chunk_size=1, chunk_delay=0.02)
        settings = replace(FAST, total_timeout=0.5, read_timeout=5.0, retries=0)

        result = fetch(server.url("/feed.xml"), settings=settings)

    assert (result.status, result.error_kind) == (FetchStatus.FAILED, "timeout")
    assert result.error == "did not finish within 0.5 s"
    assert server.requests[0].bytes_sent < len(body)


def test_a_body_over_the_cap_without_content_length_stops_at_the_cap() -> None:
    size = 200_000_000
    with FeedServer() as server:
        server.route("/huge.xml", generated_size=size, content_length=False)
        settings = replace(FAST, max_body_bytes=100_000)

        result = fetch(server.url("/huge.xml"), settings=settings)

    assert (result.status, result.error_kind) == (FetchStatus.FAILED, "too_large")
    assert result.error == "body exceeds 100000 bytes"
    assert result.http_status == 200
    assert result.attempts == 1  # a too large body is not retried
    assert server.requests[0].bytes_sent < size // 10


def test_a_declared_length_over_the_cap_is_refused_before_the_body(server: FeedServer) -> None:
    # The body would take minutes to arrive: only the headers can have decided it.
    server.route("/huge.xml", generated_size=200_000_000, chunk_delay=60.0)
    settings = replace(FAST, max_body_bytes=100_000, read_timeout=1.0)

    result = fetch(server.url("/huge.xml"), settings=settings)

    assert (result.status, result.error_kind) == (FetchStatus.FAILED, "too_large")
    assert result.error == "body exceeds 100000 bytes"


def test_a_gzip_body_is_decoded(server: FeedServer) -> None:
    server.route("/feed.xml", RSS_RU, gzip=True, etag=ETAG)

    result = fetch(server.url("/feed.xml"))

    assert result.status is FetchStatus.FETCHED
    assert result.body == RSS_RU
    assert result.validators is not None
    assert result.validators.body_sha256 == sha256(RSS_RU)  # of the decoded body


def test_a_gzip_bomb_stops_at_the_decoded_cap(server: FeedServer) -> None:
    # ~200 MB of text that compresses to a few hundred kilobytes.
    server.route("/bomb.xml", generated_size=200_000_000, gzip=True, content_length=False)
    settings = replace(FAST, max_body_bytes=1_000_000)

    result = fetch(server.url("/bomb.xml"), settings=settings)

    assert (result.status, result.error_kind) == (FetchStatus.FAILED, "too_large")
    assert result.error == "body exceeds 1000000 bytes"


def test_a_redirect_chain_is_followed_and_the_final_url_reported(server: FeedServer) -> None:
    server.route("/old/rss", redirect_to="/rss", status=301)
    server.route("/rss", redirect_to=server.url("/feed/"), status=302)
    server.route("/feed/", redirect_to="/feed/ru.xml", status=307)
    server.route("/feed/ru.xml", RSS_RU)

    result = fetch(server.url("/old/rss"))

    assert result.status is FetchStatus.FETCHED
    assert result.body == RSS_RU
    assert result.final_url == server.url("/feed/ru.xml")
    assert result.url == server.url("/old/rss")
    assert [entry.path for entry in server.requests] == [
        "/old/rss",
        "/rss",
        "/feed/",
        "/feed/ru.xml",
    ]


def test_a_redirect_loop_is_cut_off(server: FeedServer) -> None:
    server.route("/a.xml", redirect_to="/b.xml")
    server.route("/b.xml", redirect_to="/a.xml")
    sleep = FakeSleep()

    result = fetch(server.url("/a.xml"), sleep=sleep)

    assert (result.status, result.error_kind) == (FetchStatus.FAILED, "too_many_redirects")
    assert result.error == "more than 5 redirects"
    assert len(server.requests) == 6  # the original request and 5 redirects
    assert sleep.delays == []


def test_a_redirect_to_another_scheme_is_refused(server: FeedServer) -> None:
    server.route("/feed.xml", redirect_to="ftp://files.example.kz/feed.xml")

    result = fetch(server.url("/feed.xml"))

    assert (result.status, result.error_kind) == (FetchStatus.FAILED, "invalid_url")
    assert result.attempts == 1


# -- bad URLs and unreachable hosts ---------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://files.example.kz/feed.xml",
        "file:///etc/passwd",
        "feed.xml",
        "http://",
        "https://exa mple.kz/feed",
        "",
    ],
)
def test_urls_that_are_not_http_are_refused_up_front(url: str) -> None:
    result = fetch(url)

    assert (result.status, result.error_kind) == (FetchStatus.FAILED, "invalid_url")
    assert result.error
    assert result.attempts == 0


def test_a_refused_connection_is_a_connect_error_after_retries() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleep = FakeSleep()  # nothing listens on the port once the probe is closed

    result = fetch(f"http://127.0.0.1:{port}/feed.xml", sleep=sleep)

    assert (result.status, result.error_kind) == (FetchStatus.FAILED, "connect")
    assert result.error is not None
    assert result.error.startswith("cannot connect: ")
    assert result.http_status is None
    assert result.attempts == 3
    assert sleep.delays == [1.0, 2.0]


def test_url_credentials_never_appear_in_results(server: FeedServer) -> None:
    url = server.url("/private.xml").replace("http://", "http://editor:s3cret-pass@")

    failed = fetch(url)
    refused = fetch("gopher://editor:s3cret-pass@example.kz/feed")

    assert failed.error == "HTTP 404 Not Found"
    assert failed.final_url == server.url("/private.xml")
    assert "s3cret" not in f"{refused.error} {refused.final_url}"
    assert redact_url("see https://u:p@example.kz/x and http://a@b.uz") == (
        "see https://example.kz/x and http://b.uz"
    )


# -- concurrency ------------------------------------------------------------------------


async def arrived(route: Route) -> None:
    """Wait (bounded) until the server has received a request for ``route``."""
    assert await asyncio.to_thread(route.received.wait, 5.0), f"{route.path} never requested"


def test_a_slow_feed_does_not_delay_a_fast_one(server: FeedServer) -> None:
    release = threading.Event()
    slow_route = server.route("/slow.xml", RSS_EN, gate=release)
    server.route("/fast.xml", RSS_RU)

    async def scenario() -> tuple[FetchResult, bool, FetchResult]:
        async with FeedFetcher(FAST, sleep=FakeSleep()) as fetcher:
            slow = asyncio.create_task(fetcher.fetch(server.url("/slow.xml"), Validators()))
            await arrived(slow_route)
            fast = await fetcher.fetch(server.url("/fast.xml"), Validators())
            slow_was_done = slow.done()
            release.set()
            return fast, slow_was_done, await slow

    fast, slow_was_done, slow = asyncio.run(scenario())

    assert fast.body == RSS_RU
    assert not slow_was_done
    assert slow.body == RSS_EN


def test_the_per_host_limit_queues_only_that_host(server: FeedServer) -> None:
    release = threading.Event()
    held_route = server.route("/held.xml", RSS_EN, gate=release)
    server.route("/queued.xml", RSS_EN)
    server.route("/other.xml", RSS_RU)
    settings = replace(FAST, max_per_host=1)

    async def scenario() -> tuple[list[FetchResult], bool]:
        async with FeedFetcher(settings, sleep=FakeSleep()) as fetcher:
            held = asyncio.create_task(fetcher.fetch(server.url("/held.xml"), Validators()))
            await arrived(held_route)
            queued = asyncio.create_task(fetcher.fetch(server.url("/queued.xml"), Validators()))
            # Same server under another host name: its own slot, so it is not queued.
            other = await fetcher.fetch(server.url("/other.xml", host="localhost"), Validators())
            queued_was_sent = bool(server.requests_for("/queued.xml"))
            release.set()
            return [other, await held, await queued], queued_was_sent

    results, queued_was_sent = asyncio.run(scenario())

    assert [r.status for r in results] == [FetchStatus.FETCHED] * 3
    assert not queued_was_sent


# -- contract details -------------------------------------------------------------------


def test_fetch_outside_the_context_manager_is_a_programming_error() -> None:
    fetcher = FeedFetcher(FAST)

    with pytest.raises(RuntimeError, match="async with"):
        asyncio.run(fetcher.fetch("https://example.kz/feed", Validators()))


@pytest.mark.parametrize(
    "changes", [{"read_timeout": 0.0}, {"max_body_bytes": -1}, {"retries": -1}]
)
def test_impossible_settings_are_rejected(changes: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(changes))):
        FetchSettings(**changes)  # type: ignore[arg-type]


NOW = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Tue, 04 Mar 2025 09:01:30 GMT", 90.0),
        ("Tue, 04 Mar 2025 08:00:00 GMT", 0.0),  # in the past: no wait
        ("99999999999999999999", RETRY_AFTER_CEILING),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_values(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    ("cache_control", "age", "expires", "expected"),
    [
        (None, None, None, None),  # most feeds say nothing
        ("max-age=3600", None, None, 3600.0),
        ("public, max-age=3600, must-revalidate", None, None, 3600.0),
        ('MAX-AGE="600"', None, None, 600.0),
        ("max-age=3600", "600", None, 3000.0),  # a cache already held it for 10 minutes
        ("max-age=60", "600", None, 0.0),
        ("max-age=3600", "soon", None, 3600.0),  # an unreadable Age is ignored
        ("s-maxage=3600", None, None, None),  # for shared caches only, and no Expires
        ("max-age=99999999999999999999", None, None, RETRY_AFTER_CEILING),
        ("no-cache", None, None, None),  # "ask me every time"
        ("max-age=3600, no-store", None, None, None),
        ("no-cache", None, "Tue, 04 Mar 2025 11:00:00 GMT", None),
        # max-age wins over Expires (RFC 9111), which is measured from the Date.
        ("max-age=60", None, "Tue, 04 Mar 2025 11:00:00 GMT", 60.0),
        (None, None, "Tue, 04 Mar 2025 11:00:00 GMT", 7200.0),
        ("private", None, "Tue, 04 Mar 2025 10:30:00 GMT", 5400.0),
        (None, None, "Tue, 04 Mar 2025 08:00:00 GMT", 0.0),  # already expired
        (None, None, "0", 0.0),  # invalid Expires means expired
        (None, None, "Fri, 31 Dec 9999 23:59:59 GMT", RETRY_AFTER_CEILING),
    ],
)
def test_freshness_values(
    cache_control: str | None, age: str | None, expires: str | None, expected: float | None
) -> None:
    found = parse_freshness(cache_control=cache_control, age=age, expires=expires, date=NOW)

    assert found == expected
