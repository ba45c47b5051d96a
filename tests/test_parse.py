"""Feed parsing: data-file cases in tests/fixtures/feeds, plus encodings and limits.

Each ``<name>.<xml|rss|atom>`` fixture sits next to a hand-checked
``<name>.expected.json`` and, optionally, ``<name>.headers.json`` with the
Content-Type the server sent. :func:`feed_view` turns a :class:`ParsedFeed` into
the JSON shape of the expected files, so a mismatch shows as a readable diff.
"""

from __future__ import annotations

import codecs
import email.utils
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.normalise import SUMMARY_LIMIT
from jobs.parse import (
    ParsedEntry,
    ParsedFeed,
    _parse_feed,
    _rfc822_date,
    advertised_feeds,
    feed_language,
    parse_date,
    parse_feed,
)

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
NOW = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)
#: Characters of ``content`` recorded in the expected files.
CONTENT_PREFIX = 120
FEED_SUFFIXES = {".xml", ".rss", ".atom"}


def entry_view(entry: ParsedEntry) -> dict[str, Any]:
    """The fields an expected file records for one entry."""
    return {
        "guid": entry.guid,
        "url": entry.url,
        "title": entry.title,
        "summary": entry.summary,
        "content_prefix": entry.content[:CONTENT_PREFIX],
        "language": entry.language,
        "published_at": entry.published_at.isoformat(),
        "published_estimated": entry.published_estimated,
    }


def feed_view(feed: ParsedFeed) -> dict[str, Any]:
    """The whole parsed feed in the shape of ``<name>.expected.json``."""
    return {
        "title": feed.title,
        "link": feed.link,
        "error": feed.error,
        "warnings": feed.warnings,
        "skipped": feed.skipped,
        "entries": [entry_view(e) for e in feed.entries],
    }


def fixture_names() -> list[str]:
    return sorted(p.name for p in FIXTURES.iterdir() if p.suffix in FEED_SUFFIXES)


def fixture_headers(stem: str) -> dict[str, str]:
    """The response headers recorded for a fixture (``<stem>.headers.json``), if any."""
    headers_path = FIXTURES / f"{stem}.headers.json"
    if not headers_path.exists():
        return {}
    headers: dict[str, str] = json.loads(headers_path.read_text(encoding="utf-8"))
    return headers


def parse_fixture(name: str, *, force_feedparser: bool = False) -> ParsedFeed:
    path = FIXTURES / name
    stem = path.name.rsplit(".", 1)[0]
    headers = fixture_headers(stem)
    return _parse_feed(
        path.read_bytes(),
        content_type=headers.get("content-type"),
        feed_url=f"https://feeds.example.net/{stem}",
        language=None,
        now=NOW,
        max_entries=500,
        max_future=timedelta(hours=1),
        force_feedparser=force_feedparser,
    )


def expected_for(name: str) -> dict[str, Any]:
    stem = name.rsplit(".", 1)[0]
    data: dict[str, Any] = json.loads(
        (FIXTURES / f"{stem}.expected.json").read_text(encoding="utf-8")
    )
    return data


@pytest.mark.parametrize("name", fixture_names())
def test_fixture_parses_as_expected(name: str) -> None:
    assert feed_view(parse_fixture(name)) == expected_for(name)


def test_every_fixture_has_an_expected_file() -> None:
    names = fixture_names()
    assert len(names) >= 15
    for name in names:
        assert (FIXTURES / f"{name.rsplit('.', 1)[0]}.expected.json").exists(), name


# The fast reader and feedparser's reader must agree wherever both can read the
# document, otherwise a feed's entries would change when it turns ill-formed.
WELL_FORMED = [
    n
    for n in fixture_names()
    if (FIXTURES / f"{n.rsplit('.', 1)[0]}.expected.json").exists()
    and expected_for(n)["error"] is None
    and not expected_for(n)["warnings"]
]


@pytest.mark.parametrize("name", WELL_FORMED)
def test_feedparser_reader_agrees_with_fast_reader(name: str) -> None:
    assert feed_view(parse_fixture(name, force_feedparser=True)) == feed_view(parse_fixture(name))


def test_all_entries_are_bounded_and_utc() -> None:
    for name in fixture_names():
        for entry in parse_fixture(name).entries:
            assert len(entry.title) <= 300
            assert len(entry.summary) <= SUMMARY_LIMIT
            assert len(entry.content) <= 20_000
            assert entry.published_at.utcoffset() == timedelta(0)
            assert entry.url.startswith(("http://", "https://"))
            assert len(entry.content_hash) == 64


# --------------------------------------------------------------------------- encodings

RUSSIAN_FEED = """<rss version="2.0"><channel><title>Энергетика Узбекистана</title>
<link>https://energy.example.uz/</link>
<item><title>Навои: запущена солнечная станция на 100 МВт</title>
<link>https://energy.example.uz/1</link>
<description>Станция даст электричество 30 тысячам домов, сообщили в "Узбекэнерго".</description>
</item></channel></rss>"""


@pytest.mark.parametrize(
    ("encoding", "declaration", "content_type", "bom"),
    [
        ("cp1251", None, "application/rss+xml; charset=windows-1251", b""),
        ("cp1251", "windows-1251", "text/xml", b""),
        ("koi8-r", None, "text/xml; charset=KOI8-R", b""),
        ("koi8-r", "koi8-r", None, b""),
        # A header that contradicts the declaration: the header wins (RFC 7303).
        ("koi8-r", "windows-1251", "text/xml; charset=koi8-r", b""),
        ("utf-16-le", "UTF-16", None, codecs.BOM_UTF16_LE),
        ("utf-16-be", "UTF-16", "application/xml; charset=utf-16", codecs.BOM_UTF16_BE),
        ("utf-8", "utf-8", "text/xml; charset=iso-8859-1", codecs.BOM_UTF8),
        # Valid UTF-8 is UTF-8 even when a server mislabels it.
        ("utf-8", None, "text/xml; charset=windows-1251", b""),
    ],
)
def test_encodings_come_out_as_text(
    encoding: str, declaration: str | None, content_type: str | None, bom: bytes
) -> None:
    prolog = f'<?xml version="1.0" encoding="{declaration}"?>\n' if declaration else ""
    body = bom + (prolog + RUSSIAN_FEED).encode(encoding)
    feed = parse_feed(
        body,
        content_type=content_type,
        feed_url="https://energy.example.uz/rss",
        language=None,
        now=NOW,
    )
    assert feed.error is None
    assert feed.title == "Энергетика Узбекистана"
    [entry] = feed.entries
    assert entry.title == "Навои: запущена солнечная станция на 100 МВт"
    assert entry.summary == 'Станция даст электричество 30 тысячам домов, сообщили в "Узбекэнерго".'
    assert entry.language == "ru"


def test_unknown_charset_is_reported_and_ignored() -> None:
    body = RUSSIAN_FEED.encode("cp1251")
    feed = parse_feed(
        body,
        content_type="text/xml; charset=x-no-such-charset",
        feed_url="https://energy.example.uz/rss",
        language=None,
        now=NOW,
    )
    assert feed.title == "Энергетика Узбекистана"
    assert feed.warnings == ["unknown Content-Type charset 'x-no-such-charset' ignored"]


# --------------------------------------------------------------------------- limits


RFC822 = "%a, %d %b %Y %H:%M:%S +0000"


def numbered_feed(count: int) -> bytes:
    items = "".join(
        f"<item><title>Tender {i} for grid upgrades</title>"
        f"<link>https://grid.example.kz/t/{i}</link>"
        f"<pubDate>{(NOW - timedelta(hours=(i * 7) % count)).strftime(RFC822)}</pubDate></item>"
        for i in range(count)
    )
    return f"<rss version='2.0'><channel><title>Grid</title>{items}</channel></rss>".encode()


def test_max_entries_keeps_the_newest_in_document_order() -> None:
    feed = parse_feed(
        numbered_feed(20),
        content_type=None,
        feed_url="https://grid.example.kz/rss",
        language="en",
        now=NOW,
        max_entries=5,
    )
    ages = [NOW - e.published_at for e in feed.entries]
    assert sorted(ages) == [timedelta(hours=h) for h in range(5)]
    numbers = [int(e.url.rsplit("/", 1)[1]) for e in feed.entries]
    assert numbers == sorted(numbers)
    assert feed.warnings == ["feed has 20 entries, kept the newest 5"]


def test_max_future_is_configurable() -> None:
    body = (
        b"<rss version='2.0'><channel><title>T</title><item><title>Early bird news item</title>"
        b"<link>https://e.example.kz/1</link><pubDate>Tue, 10 Jun 2025 15:00:00 +0000</pubDate>"
        b"</item></channel></rss>"
    )
    strict = parse_feed(
        body, content_type=None, feed_url="https://e.example.kz/", language=None, now=NOW
    )
    lenient = parse_feed(
        body,
        content_type=None,
        feed_url="https://e.example.kz/",
        language=None,
        now=NOW,
        max_future=timedelta(hours=4),
    )
    assert (strict.entries[0].published_at, strict.entries[0].published_estimated) == (NOW, True)
    assert lenient.entries[0].published_at == datetime(2025, 6, 10, 15, 0, tzinfo=UTC)
    assert not lenient.entries[0].published_estimated


def test_configured_language_wins_over_feed_and_detection() -> None:
    body = (FIXTURES / "kazakh.xml").read_bytes()
    feed = parse_feed(
        body, content_type=None, feed_url="https://x.example.kz/", language="ru", now=NOW
    )
    assert {e.language for e in feed.entries} == {"ru"}


def test_content_hash_changes_when_an_article_is_edited() -> None:
    body = (FIXTURES / "rss2_basic.xml").read_bytes()
    edited = body.replace(b"1 GW wind farm in", b"1.2 GW wind farm in")
    first = parse_feed(
        body, content_type=None, feed_url="https://x.example.kz/", language=None, now=NOW
    )
    second = parse_feed(
        edited, content_type=None, feed_url="https://x.example.kz/", language=None, now=NOW
    )
    assert first.entries[0].guid == second.entries[0].guid
    assert first.entries[0].content_hash != second.entries[0].content_hash
    assert first.entries[1].content_hash == second.entries[1].content_hash


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("en-US", "en"),
        ("ru-RU", "ru"),
        ("RU", "ru"),
        ("kk", "kk"),
        ("kz", "kk"),
        ("kk_KZ", "kk"),
        ("uz-Latn", "uz"),
        ("uz-Cyrl-UZ", "uz"),
        ("de", None),
        ("", None),
        (None, None),
    ],
)
def test_feed_language_tags(tag: str | None, expected: str | None) -> None:
    assert feed_language(tag) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Mon, 02 Jun 2025 09:15:00 +0500", datetime(2025, 6, 2, 4, 15, tzinfo=UTC)),
        ("Tue, 03 Jun 2025 12:00:00 MSK", datetime(2025, 6, 3, 9, 0, tzinfo=UTC)),
        ("Tue, 03 Jun 2025 12:00:00 ALMT", datetime(2025, 6, 3, 7, 0, tzinfo=UTC)),
        ("Tue, 03 Jun 2025 01:30:00 EST", datetime(2025, 6, 3, 6, 30, tzinfo=UTC)),
        ("03 Jun 2025 12:00 GMT", datetime(2025, 6, 3, 12, 0, tzinfo=UTC)),
        ("2025-06-03T08:20:00", datetime(2025, 6, 3, 8, 20, tzinfo=UTC)),
        ("2025-06-03T08:20:00Z", datetime(2025, 6, 3, 8, 20, tzinfo=UTC)),
        ("2025-06-03 08:20:00+05:00", datetime(2025, 6, 3, 3, 20, tzinfo=UTC)),
        ("2025-06-03", datetime(2025, 6, 3, tzinfo=UTC)),
        ("yesterday afternoon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_date(raw: str | None, expected: datetime | None) -> None:
    assert parse_date(raw) == expected


@given(
    st.integers(min_value=1000, max_value=9999),
    st.sampled_from(["Jan", "Feb", "Jun", "Nov", "Dec"]),
    st.integers(min_value=0, max_value=40),
    st.integers(min_value=0, max_value=25),
    st.integers(min_value=0, max_value=61),
    st.none() | st.integers(min_value=0, max_value=61),
    st.sampled_from(["+0000", "-0000", "+0500", "-0330", "+1400", "+0575", "+9900", "GMT", "UT"]),
    st.booleans(),
)
def test_rfc822_dates_read_like_the_email_parser(
    year: int,
    month: str,
    day: int,
    hour: int,
    minute: int,
    second: int | None,
    zone: str,
    day_name: bool,
) -> None:
    # Out-of-range fields and offsets included: parse_date's shortcut for RFC 822
    # must give what the email parser gives, and decline what it rejects.
    text = f"{day:02d} {month} {year} {hour:02d}:{minute:02d}"
    text += f":{second:02d}" if second is not None else ""
    text = f"{'Wed, ' if day_name else ''}{text} {zone}"
    try:
        expected = email.utils.parsedate_to_datetime(text)
    except ValueError:
        assert _rfc822_date(text) is None
        return
    value = parse_date(text)
    assert value == expected.replace(tzinfo=expected.tzinfo or UTC)
    assert value is not None
    assert value.tzinfo is UTC


# --------------------------------------------------------------------------- robustness


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(body: bytes) -> None:
    feed = parse_feed(
        body, content_type=None, feed_url="https://x.example.kz/", language=None, now=NOW
    )
    assert feed.error is not None or isinstance(feed.entries, list)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from([n for n in fixture_names() if n != "empty.xml"]),
    st.integers(min_value=0, max_value=4000),
    st.integers(min_value=1, max_value=200),
)
def test_truncated_or_damaged_fixtures_never_raise(name: str, at: int, length: int) -> None:
    body = (FIXTURES / name).read_bytes()
    damaged = body[:at] + body[at + length :]
    feed = parse_feed(
        damaged, content_type=None, feed_url="https://x.example.kz/", language=None, now=NOW
    )
    assert (feed.error is None) or (feed.entries == [] and feed.error)
    for entry in feed.entries:
        assert entry.url.startswith(("http://", "https://"))


# --------------------------------------------------------------------------- documents


def parse_bytes(body: bytes, content_type: str | None = None) -> ParsedFeed:
    return parse_feed(
        body, content_type=content_type, feed_url="https://x.example.kz/rss", language=None, now=NOW
    )


def test_xml_that_is_not_a_feed_is_an_error() -> None:
    body = b'<?xml version="1.0"?><urlset><url><loc>https://x.example.kz/</loc></url></urlset>'
    feed = parse_bytes(body, "application/xml")
    assert feed.error == "not a feed: no RSS or Atom document found"
    assert feed.entries == []


def test_xhtml_page_with_xml_declaration_is_an_html_page() -> None:
    body = b'<?xml version="1.0"?>\n<!DOCTYPE html>\n<html><body><p>Maintenance</p></body></html>'
    assert parse_bytes(body).error == "not a feed: the server returned an HTML page"


HOME_PAGE = """<!DOCTYPE html><html><head><title>Kursiv &mdash; business news</title>
<base href="https://kz.kursiv.example/">
<link rel="stylesheet" href="/style.css">
<link rel="alternate" hreflang="kk" href="/kz/">
<link rel="alternate" type="application/rss+xml" title="Feed" href="/feed/?utm_source=site">
<link rel="alternate" type="application/rss+xml" title="Comments" href="comments/feed/">
<link rel="Alternate" type="application/atom+xml; charset=utf-8" href="/feed/?utm_medium=x">
<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
</head><body><h1>Kursiv</h1></body></html>"""


def test_a_pages_advertised_feeds_are_found_in_page_order() -> None:
    found = advertised_feeds(HOME_PAGE, "https://kursiv.example/home")

    # Resolved against <base href>, tracking parameters dropped, repeats and
    # non-web links left out; language alternates and stylesheets are no feeds.
    assert found == [
        "https://kz.kursiv.example/feed/",
        "https://kz.kursiv.example/comments/feed/",
    ]


def test_an_html_page_error_names_the_feeds_it_links_to() -> None:
    assert parse_bytes(HOME_PAGE.encode(), "text/html; charset=utf-8").error == (
        "not a feed: the server returned an HTML page; it names feeds at "
        "https://kz.kursiv.example/feed/, https://kz.kursiv.example/comments/feed/"
        " (configure one of them instead)"
    )
    one = (
        '<html><head><link rel="alternate" type="application/atom+xml" href="atom.xml">'
        "</head><body></body></html>"
    )
    assert parse_bytes(one.encode()).error == (
        "not a feed: the server returned an HTML page; it names a feed at "
        "https://x.example.kz/atom.xml (configure that URL instead)"
    )


def test_feed_served_as_text_html_is_still_a_feed() -> None:
    body = (FIXTURES / "rss2_basic.xml").read_bytes()
    feed = parse_bytes(body, "text/html; charset=utf-8")
    assert feed.error is None
    assert len(feed.entries) == 3


def test_feed_without_items_is_not_an_error() -> None:
    body = b"<rss version='2.0'><channel><title>Quiet week</title></channel></rss>"
    feed = parse_bytes(body)
    assert (feed.error, feed.title, feed.entries) == (None, "Quiet week", [])


def test_long_content_without_summary_gives_both() -> None:
    paragraph = "<p>The regulator approved a new tariff methodology for district heating. </p>"
    body = (
        "<rss version='2.0' xmlns:content='http://purl.org/rss/1.0/modules/content/'><channel>"
        "<title>T</title><item><title>Heating tariffs reform</title>"
        "<link>https://x.example.kz/heat</link>"
        f"<content:encoded><![CDATA[{paragraph * 40}]]></content:encoded>"
        "</item></channel></rss>"
    ).encode()
    [entry] = parse_bytes(body).entries
    assert len(entry.summary) <= SUMMARY_LIMIT
    assert entry.summary.endswith("…")
    assert entry.content.startswith(entry.summary[:-1])
    assert len(entry.content) > 2000


def test_html_entities_behind_a_doctype_are_read_by_the_fast_reader() -> None:
    body = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss PUBLIC'
        b' "-//Netscape Communications//DTD RSS 0.91//EN"'
        b' "http://my.netscape.com/publish/formats/rss-0.91.dtd">\n'
        b"<rss version='0.91'><channel><title>Old&nbsp;school</title>"
        b"<item><title>Caf&eacute; opens in Almaty tech park &mdash; photos</title>"
        b"<link>https://x.example.kz/cafe</link></item></channel></rss>"
    )
    feed = parse_bytes(body)
    assert (feed.error, feed.warnings) == (None, [])
    assert feed.title == "Old school"
    assert feed.entries[0].title == "Café opens in Almaty tech park — photos"


def _with_ttl(ttl: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Kursiv Tech</title><link>https://kursiv.example/</link><ttl>{ttl}</ttl>"
        "<item><title>Freedom Holding opens a fintech lab in Almaty</title>"
        "<link>https://kursiv.example/news/fintech-lab</link></item></channel></rss>"
    ).encode()


@pytest.mark.parametrize("force_feedparser", [False, True])
@pytest.mark.parametrize(
    ("ttl", "expected"),
    [
        ("90", timedelta(minutes=90)),
        (" 60\n", timedelta(hours=1)),
        ("99999999999999", timedelta(days=7)),  # at most a week
        ("0", None),
        ("-5", None),
        ("1.5", None),
        ("hourly", None),
        ("", None),
    ],
)
def test_the_feeds_own_ttl_is_read_in_minutes(
    ttl: str, expected: timedelta | None, force_feedparser: bool
) -> None:
    parsed = _parse_feed(
        _with_ttl(ttl),
        content_type="application/rss+xml",
        feed_url="https://kursiv.example/feed/",
        language=None,
        now=NOW,
        max_entries=500,
        max_future=timedelta(hours=1),
        force_feedparser=force_feedparser,
    )

    assert parsed.error is None
    assert len(parsed.entries) == 1
    assert parsed.ttl == expected


def test_a_feed_without_ttl_has_none() -> None:
    assert parse_fixture("rss2_basic.xml").ttl is None
