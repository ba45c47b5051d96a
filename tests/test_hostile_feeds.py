"""Hostile and broken feeds, collected over real loopback HTTP into a real database.

Each attack is served next to a well-behaved outlet in the same collection run. The
attack must end within a small time and memory budget, be recorded as that feed's
error (what ``steppe feeds`` shows), and leave the good outlet's articles collected.
Timeouts and caps are configured tiny so that the whole file runs in a few seconds.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from bot.cli import EXIT_OK, main
from jobs.classify import Classifier, load_rules
from jobs.collect import CollectionReport, Collector, CollectSettings, FeedReport, FeedStatus
from jobs.fetch import FetchSettings
from jobs.normalise import canonical_url, clean_title, html_to_text
from jobs.parse import parse_feed
from storage import FeedSpec, Store
from tests.feedserver import FeedServer
from tests.test_collect import HUB_EN, SOLAR_EN, T0, rss

#: Fetch limits for these tests: small enough that every attack ends fast.
CAP = 1_000_000
DEADLINE = 1.0
#: Every run here must end within this (the slowest attack waits DEADLINE).
RUN_BUDGET = 6.0
#: Python memory a run may allocate at its peak (the attack bodies are 50 MB+).
MEMORY_BUDGET = 40_000_000


def hostile_settings(**changes: object) -> CollectSettings:
    fetch = FetchSettings(
        retries=0,
        connect_timeout=2.0,
        read_timeout=2.0,
        total_timeout=DEADLINE,
        max_body_bytes=CAP,
        max_redirects=3,
    )
    return CollectSettings(fetch=fetch, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Run:
    report: CollectionReport
    seconds: float
    peak_bytes: int

    def feed(self, key: str) -> FeedReport:
        return next(r for r in self.report.feeds if r.key == key)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


def collect(
    store: Store,
    server: FeedServer,
    attack_path: str,
    *,
    settings: CollectSettings | None = None,
) -> Run:
    """One run over the attack feed and the good outlet; timed and memory-traced."""
    server.route("/good.xml", body=rss([HUB_EN, SOLAR_EN]))
    store.sync_feeds(
        [
            FeedSpec("good", "Good", server.url("/good.xml"), "en", "kz"),
            FeedSpec("attack", "Attack", server.url(attack_path), "en", "kz"),
        ]
    )
    collector = Collector(
        store, Classifier(load_rules()), settings or hostile_settings(), clock=lambda: T0
    )
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with collector:
            report = asyncio.run(collector.run(force=True))
    finally:
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return Run(report, seconds, peak)


def assert_contained(run: Run, store: Store, error: str) -> None:
    """The attack failed with ``error`` (also in its health); the good feed is intact."""
    attack = run.feed("attack")
    assert attack.status is FeedStatus.FAILED
    assert attack.error is not None
    assert error in attack.error
    state = store.feed_state("attack")
    assert state is not None
    assert state.last_error == attack.error
    assert state.consecutive_failures == 1
    assert state.article_count == 0
    good = run.feed("good")
    assert (good.status, good.new) == (FeedStatus.FETCHED, 2)
    assert run.seconds < RUN_BUDGET
    assert run.peak_bytes < MEMORY_BUDGET


def item(n: int, *, title: str = "Astana Hub startup news", guid: str | None = None) -> str:
    published = format_datetime(T0 - timedelta(minutes=n + 1))
    return (
        f"<item><guid>{guid or f'g{n}'}</guid><link>https://outlet.example/news/{n}</link>"
        f"<title>{title} {n}</title><pubDate>{published}</pubDate>"
        f"<description>Item {n} about IT companies in Kazakhstan.</description></item>"
    )


def document(items: str, *, doctype: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>{doctype}<rss version="2.0"><channel>'
        f"<title>Outlet</title><link>https://outlet.example/</link>{items}</channel></rss>"
    ).encode()


# --------------------------------------------------------------------------- XML


def test_billion_laughs_is_refused_before_any_expansion(store: Store, server: FeedServer) -> None:
    levels = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    body = document(item(1, title="&lol9;"), doctype=f"<!DOCTYPE rss [{''.join(levels)}]>")
    server.route("/attack.xml", body=body)

    run = collect(store, server, "/attack.xml")

    assert_contained(run, store, "unsafe XML: entity &lol1; refers to other entities")


def test_entity_expansion_spelt_with_character_references_is_refused() -> None:
    doctype = '<!DOCTYPE rss [<!ENTITY a "x"><!ENTITY b "&#38;a;&#x26;a;&#38;a;">]>'
    feed = parse_feed(
        document(item(1, title="&b;"), doctype=doctype),
        content_type=None,
        feed_url="https://outlet.example/rss",
        language="en",
        now=T0,
    )
    assert feed.error == "unsafe XML: entity &b; refers to other entities (entity expansion)"


def test_a_long_entity_used_many_times_is_refused(store: Store, server: FeedServer) -> None:
    doctype = f'<!DOCTYPE rss [<!ENTITY big "{"x" * 5000}">]>'
    server.route("/attack.xml", body=document(item(1, title="&big;" * 5000), doctype=doctype))

    run = collect(store, server, "/attack.xml")

    assert_contained(run, store, "unsafe XML: entity &big; is longer than 1000 characters")


def test_external_entities_are_never_read_or_fetched(
    store: Store, server: FeedServer, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-FILE", encoding="utf-8")
    server.route("/entity.txt", body=b"TOP-SECRET-HTTP")
    server.route("/schema.dtd", body=b'<!ENTITY nbsp "TOP-SECRET-DTD">')
    doctype = (
        "<!DOCTYPE rss ["
        f'<!ENTITY file SYSTEM "{secret.as_uri()}">'
        f'<!ENTITY web SYSTEM "{server.url("/entity.txt")}">'
        f'<!ENTITY % dtd SYSTEM "{server.url("/schema.dtd")}"> %dtd;'
        "]>"
    )
    items = item(1, title="Solar &file; plant &web; news") + item(2, title="Tariffs&nbsp;rise")
    server.route("/attack.xml", body=document(items, doctype=doctype))

    run = collect(store, server, "/attack.xml")

    attack = run.feed("attack")
    assert (attack.status, attack.new) == (FeedStatus.FETCHED, 2)
    assert server.requests_for("/entity.txt") == []
    assert server.requests_for("/schema.dtd") == []
    rows = store.recent_articles(T0 - timedelta(days=1), limit=10)
    titles = {row.title for row in rows}
    assert "Solar plant news 1" in titles
    assert not any("SECRET" in title for title in titles)


def test_an_external_dtd_is_not_fetched(store: Store, server: FeedServer) -> None:
    server.route("/rss.dtd", body=b'<!ENTITY nbsp "TOP-SECRET">')
    doctype = f'<!DOCTYPE rss SYSTEM "{server.url("/rss.dtd")}">'
    server.route("/attack.xml", body=document(item(1, title="Wind&nbsp;farm"), doctype=doctype))

    run = collect(store, server, "/attack.xml")

    assert run.feed("attack").new == 1
    assert server.requests_for("/rss.dtd") == []


# --------------------------------------------------------------------------- bodies


def test_a_50_mb_body_is_cut_at_the_cap_while_streaming(store: Store, server: FeedServer) -> None:
    size = 50_000_000
    server.route("/attack.xml", generated_size=size, content_length=False)

    run = collect(store, server, "/attack.xml")

    assert_contained(run, store, f"body exceeds {CAP} bytes")
    # The collector stops reading at the cap; what the server got off its hands beyond
    # that is what loopback's socket buffers took (several MB on a busy machine).
    assert server.requests_for("/attack.xml")[0].bytes_sent < size // 3


def test_a_body_that_never_ends_is_cut_at_the_cap(store: Store, server: FeedServer) -> None:
    server.route("/attack.xml", generated_size=10**15, content_length=False)

    run = collect(store, server, "/attack.xml")

    assert_contained(run, store, f"body exceeds {CAP} bytes")


def test_one_byte_at_a_time_is_bounded_by_the_total_deadline(
    store: Store, server: FeedServer
) -> None:
    # Each byte arrives well within the read timeout: only the total deadline ends it.
    # Retries are on: a trickle must not get a second deadline's worth of time.
    server.route("/attack.xml", body=document(item(1)), chunk_size=1, chunk_delay=0.25)
    settings = CollectSettings(
        fetch=FetchSettings(
            retries=2,
            backoff_base=0.01,
            connect_timeout=2.0,
            read_timeout=2.0,
            total_timeout=DEADLINE,
        )
    )

    run = collect(store, server, "/attack.xml", settings=settings)

    assert_contained(run, store, f"did not finish within {DEADLINE:g} s")
    # Cut at the deadline, not after the trickle (assert_contained bounds the run).
    assert len(server.requests_for("/attack.xml")) == 1


def test_a_gzip_bomb_is_cut_at_the_decompressed_cap(store: Store, server: FeedServer) -> None:
    size = 500_000_000  # compresses to well under a megabyte
    server.route("/attack.xml", generated_size=size, gzip=True, content_length=False)

    run = collect(store, server, "/attack.xml")

    assert_contained(run, store, f"body exceeds {CAP} bytes")
    assert server.requests_for("/attack.xml")[0].bytes_sent < CAP


# --------------------------------------------------------------------------- HTTP


def test_a_redirect_loop_is_cut_off(store: Store, server: FeedServer) -> None:
    server.route("/attack.xml", redirect_to="/loop.xml", status=302)
    server.route("/loop.xml", redirect_to="/attack.xml", status=302)

    run = collect(store, server, "/attack.xml")

    assert_contained(run, store, "more than 3 redirects")
    assert len(server.requests) <= 1 + 4 + 1  # good feed + first request and 3 redirects


def test_an_html_page_instead_of_the_feed(store: Store, server: FeedServer) -> None:
    page = (
        b"<!DOCTYPE html><html><head><title>Site</title><script>track()</script></head>"
        b"<body><h1>We moved</h1><a href='/news'>News</a></body></html>"
    )
    server.route("/attack.xml", body=page, content_type="text/html; charset=utf-8")

    run = collect(store, server, "/attack.xml")

    assert_contained(run, store, "not a feed: the server returned an HTML page")


def test_a_home_page_configured_as_the_feed_names_the_feed_to_use(
    store: Store, server: FeedServer
) -> None:
    page = (
        b"<!DOCTYPE html><html><head><title>Daryo</title>"
        b'<link rel="alternate" type="application/rss+xml" href="/rss/"></head>'
        b"<body><h1>Daryo</h1></body></html>"
    )
    server.route("/attack.xml", body=page, content_type="text/html; charset=utf-8")

    run = collect(store, server, "/attack.xml")

    assert_contained(
        run,
        store,
        "not a feed: the server returned an HTML page; it names a feed at "
        f"{server.url('/rss/')} (configure that URL instead)",
    )


# --------------------------------------------------------------------------- volume


def test_new_guids_on_every_fetch_do_not_grow_the_archive(store: Store, server: FeedServer) -> None:
    # Same three articles (same links), fresh guids each time the feed is fetched.
    bodies = [
        document("".join(item(n, guid=f"fetch{fetch}-{n}") for n in range(3))) for fetch in range(4)
    ]
    server.route("/attack.xml", bodies=bodies)

    reports = [collect(store, server, "/attack.xml").feed("attack") for _ in range(4)]

    assert [r.new for r in reports] == [3, 0, 0, 0]
    assert all(r.status is FeedStatus.FETCHED for r in reports)
    state = store.feed_state("attack")
    assert state is not None
    assert state.article_count == 3
    assert len(server.requests_for("/attack.xml")) == 4


def test_ten_thousand_items_are_bounded_by_max_entries(store: Store, server: FeedServer) -> None:
    body = document("".join(item(n) for n in range(10_000)))
    assert len(body) < CAP * 3
    server.route("/attack.xml", body=body)
    settings = CollectSettings(
        fetch=FetchSettings(retries=0, total_timeout=5.0, max_body_bytes=CAP * 3),
        max_entries=200,
    )

    run = collect(store, server, "/attack.xml", settings=settings)

    attack = run.feed("attack")
    assert (attack.status, attack.new) == (FeedStatus.FETCHED, 200)
    assert "feed has 10000 entries, kept the newest 200" in attack.warnings
    assert run.feed("good").new == 2
    state = store.feed_state("attack")
    assert state is not None
    assert state.article_count == 200
    assert run.seconds < 10.0
    assert run.peak_bytes < 80_000_000


def test_feed_errors_are_shown_by_steppe_feeds(
    tmp_path: Path, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.route("/good.xml", body=rss([HUB_EN, SOLAR_EN]))
    server.route("/bomb.xml", generated_size=100_000_000, gzip=True, content_length=False)
    server.route("/loop.xml", redirect_to="/loop.xml", status=302)
    feeds = "".join(
        f'[[feeds]]\nkey = "{key}"\nname = "{key.title()}"\nurl = "{server.url(path)}"\n'
        'language = "en"\ncountry = "kz"\n'
        for key, path in (("good", "/good.xml"), ("bomb", "/bomb.xml"), ("loop", "/loop.xml"))
    )
    config = tmp_path / "config.toml"
    config.write_text(
        'data_dir = "state"\n[collection]\nretries = 0\nmax_body_bytes = 1000000\n'
        f"total_timeout = 2.0\nworkers = 0\n{feeds}",
        encoding="utf-8",
    )

    assert main(["--config", str(config), "collect", "--once"]) == EXIT_OK
    capsys.readouterr()
    assert main(["--config", str(config), "feeds"]) == EXIT_OK
    listing = capsys.readouterr().out

    lines = {line.split()[0]: line for line in listing.splitlines() if line.strip()}
    assert "body exceeds 1000000 bytes" in lines["bomb"]
    assert "more than 5 redirects" in lines["loop"]
    assert "body exceeds" not in lines["good"]


# --------------------------------------------------------------------------- text


UNTRUSTED = (
    '<p>Solar <b>plant</b> opens<script>steal("cookie")</script>'
    "<style>body { display: none }</style>"
    '<iframe src="https://ads.example/frame">frame text</iframe>'
    '<img src="https://px.example/pixel.gif" width="1" height="1" onerror="alert(1)">'
    "<noscript><img src='https://px.example/ns.gif'></noscript>"
    "<textarea><script>alert(2)</script></textarea>"
    "&lt;script&gt;alert(3)&lt;/script&gt; in Navoi.</p>"
)


@pytest.mark.parametrize(
    "html",
    [
        UNTRUSTED,
        "<![CDATA[<script>alert(4)</script>]]>Solar plant opens in Navoi.",
        "<title><script>alert(5)</script></title>Solar plant opens in Navoi.",
    ],
)
def test_scripts_styles_frames_and_pixels_are_removed_with_their_content(html: str) -> None:
    text = html_to_text(html)
    for residue in ("script", "alert", "steal", "display", "frame", "pixel", "<", ">"):
        assert residue not in text
    assert text.startswith("Solar")
    assert text.endswith("in Navoi.")


def test_a_plain_text_title_cannot_carry_a_script() -> None:
    title = clean_title("Budget <script>alert(1)</script>approved", is_html=False)
    assert title == "Budget approved"
    # Ordinary plain-text markup-like characters are kept as text.
    assert clean_title("Prices <5% & falling", is_html=False) == "Prices <5% & falling"


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox(1)",
        "ftp://files.example/news.txt",
        "mailto:editor@outlet.example",
        "file:///etc/passwd",
        "http://",
        "https:///no-host",
        "http://bad host.example/news",
        "http://[::1/broken",
    ],
)
def test_links_that_are_not_web_addresses_are_dropped(link: str) -> None:
    assert canonical_url(link, "https://outlet.example/rss") is None


def test_hostile_entries_are_stored_clean_and_without_bad_links(
    store: Store, server: FeedServer
) -> None:
    published = format_datetime(T0 - timedelta(hours=1))
    entries = [
        ("https://outlet.example/news/clean", "Solar <b>plant</b> &amp; grid", UNTRUSTED),
        ("javascript:alert(document.cookie)", "Script link", "x"),
        ("data:text/html,<script>alert(1)</script>", "Data link", "x"),
        ("mailto:editor@outlet.example", "Mail link", "x"),
        ("ftp://outlet.example/file", "Ftp link", "x"),
    ]
    items = "".join(
        f"<item><link>{link.replace('&', '&amp;').replace('<', '&lt;')}</link>"
        f"<title>{title.replace('&', '&amp;').replace('<', '&lt;')}</title>"
        f"<pubDate>{published}</pubDate>"
        f"<description><![CDATA[{summary}]]></description></item>"
        for link, title, summary in entries
    )
    server.route("/attack.xml", body=document(items))

    run = collect(store, server, "/attack.xml")

    attack = run.feed("attack")
    assert (attack.status, attack.new, attack.skipped) == (FeedStatus.FETCHED, 1, 4)
    state = store.feed_state("attack")
    assert state is not None
    rows = [r for r in store.recent_articles(T0 - timedelta(days=1)) if r.outlet == "Attack"]
    assert [(r.url, r.title) for r in rows] == [
        ("https://outlet.example/news/clean", "Solar plant & grid")
    ]


def test_a_feed_whose_entries_all_lack_web_links_is_an_error(
    store: Store, server: FeedServer
) -> None:
    items = "".join(
        f"<item><title>Story {n}</title><link>javascript:go({n})</link></item>" for n in range(3)
    )
    server.route("/attack.xml", body=document(items))

    run = collect(store, server, "/attack.xml")

    assert_contained(run, store, "no usable entries: none of the 3 entries has an http(s) link")
