"""Turn a fetched feed body into normalised entries.

:func:`parse_feed` is pure: bytes, headers and a clock value in, a
:class:`ParsedFeed` out. It never raises; a body that is not a usable feed comes
back with :attr:`ParsedFeed.error` set.

Two readers produce the same raw fields (:class:`_RawFeed`):

* the fast reader walks a well-formed RSS 2.0/0.9x, RSS 1.0 (RDF) or Atom
  (1.0/0.3) document with :mod:`xml.etree.ElementTree` (C expat) and reads only the
  handful of elements the project stores;
* anything else (ill-formed XML, undefined HTML entities, entity declarations,
  unknown roots) goes to :func:`feedparser.parse`, whose loose parser recovers
  entries from broken documents.

feedparser spends most of its time sanitising and re-resolving every HTML field;
the fast reader skips that, and both readers clean only the fields we keep, which
is what makes parsing several times faster than ``feedparser.parse(body)``. A test
checks that both readers agree on every well-formed fixture.

Decoding (:func:`decode_body`) follows what servers in the region actually send:
a BOM wins; a body that is valid UTF-8 is UTF-8 whatever the labels say (legacy
Cyrillic text is practically never valid UTF-8); otherwise the Content-Type
charset, then the XML declaration, then Windows-1251.
"""

from __future__ import annotations

import codecs
import email.utils
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from html import escape as html_escape
from html.entities import html5
from typing import Any
from urllib.parse import urljoin

import feedparser
import feedparser.datetimes
from selectolax.lexbor import LexborHTMLParser

from jobs.language import detect_language
from jobs.normalise import (
    CONTENT_LIMIT,
    SUMMARY_LIMIT,
    TITLE_LIMIT,
    canonical_url,
    clean_title,
    content_hash,
    fold_whitespace,
    html_to_text,
    strip_unsafe_markup,
    truncate,
)

#: Longest title taken from a summary when an entry has no title of its own.
FALLBACK_TITLE_LIMIT = 120


@dataclass(frozen=True)
class ParsedEntry:
    """One feed entry, normalised. Texts are plain text, bounded (see :mod:`jobs.normalise`)."""

    guid: str
    """The entry's id, else its canonical URL."""
    url: str
    """Canonical absolute http(s) URL (tracking parameters removed)."""
    title: str
    summary: str
    content: str
    """Full text when the feed carries more than the summary, else ``""``."""
    language: str
    """One of ``en``, ``ru``, ``kk``, ``uz``."""
    published_at: datetime
    """Aware UTC."""
    published_estimated: bool
    """True when the feed gave no usable date (missing, unreadable, or too far in the
    future) and ``now`` was used instead."""
    content_hash: str


@dataclass(frozen=True)
class ParsedFeed:
    """The outcome of parsing one body."""

    title: str
    link: str | None
    entries: list[ParsedEntry] = field(default_factory=list)
    error: str | None = None
    """Why the body is not a usable feed; ``None`` when it is (even with no entries).
    A document whose entries are all unusable (no http(s) link, no title or text) is
    an error: such a feed never gives an article."""
    warnings: list[str] = field(default_factory=list)
    skipped: int = 0
    """Entries dropped for having no usable http(s) link, or no title and no text."""
    ttl: timedelta | None = None
    """The feed's RSS 2.0 ``<ttl>``: how long (minutes in the document) it may be kept
    before it is fetched again; ``None`` when absent or not a positive whole number."""


# --------------------------------------------------------------------------- decoding

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)
_DECL_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([\w.:-]+)["']""")
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")


def _codec(name: str) -> str | None:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_body(body: bytes, content_type: str | None) -> tuple[str, list[str]]:
    """The body as text, and warnings about labels that could not be honoured.

    Order: BOM; strict UTF-8; Content-Type charset; XML declaration; Windows-1251;
    finally UTF-8 with replacement characters.
    """
    text, warnings, _ = _decode(body, content_type)
    return text, warnings


def _decode(body: bytes, content_type: str | None) -> tuple[str, list[str], bool]:
    """:func:`decode_body`, and whether the text is exactly ``body`` read as UTF-8."""
    warnings: list[str] = []
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(encoding, "replace"), warnings, False
    if body[:4] == b"<\x00?\x00":
        return body.decode("utf-16-le", "replace"), warnings, False
    if body[:4] == b"\x00<\x00?":
        return body.decode("utf-16-be", "replace"), warnings, False
    try:
        return body.decode("utf-8"), warnings, True
    except UnicodeDecodeError:
        pass
    labels: list[tuple[str, str]] = []
    if content_type and (m := _CHARSET.search(content_type)):
        labels.append(("Content-Type charset", m.group(1)))
    if m2 := _DECL_ENCODING.match(body[:512]):
        labels.append(("XML declaration encoding", m2.group(1).decode("ascii")))
    for where, label in labels:
        codec_name = _codec(label)
        if codec_name is None:
            warnings.append(f"unknown {where} {label!r} ignored")
            continue
        if codec_name in {"utf-8", "utf-16", "utf-32"}:
            continue  # already tried, or impossible without a BOM
        try:
            return body.decode(codec_name), warnings, False
        except UnicodeDecodeError:
            warnings.append(f"{where} {label!r} does not match the body")
    try:
        return body.decode("cp1251"), warnings, False
    except UnicodeDecodeError:
        warnings.append("undecodable bytes replaced")
        return body.decode("utf-8", "replace"), warnings, False


# --------------------------------------------------------------------------- raw fields


@dataclass
class _Text:
    value: str
    is_html: bool


@dataclass
class _RawEntry:
    id: str | None = None
    link: str | None = None
    permalink: str | None = None
    """An RSS guid usable as the link when ``link`` is missing or unusable."""
    base: str | None = None
    language: str | None = None
    title: _Text | None = None
    summary: _Text | None = None
    content: _Text | None = None
    published: str | None = None
    updated: str | None = None


@dataclass
class _RawFeed:
    title: _Text | None = None
    link: str | None = None
    base: str | None = None
    language: str | None = None
    ttl: str | None = None
    entries: list[_RawEntry] = field(default_factory=list)


class _NotHandled(Exception):
    """The fast reader does not handle this document: let feedparser try."""


_ATOM = "{http://www.w3.org/2005/Atom}"
_ATOM03 = "{http://purl.org/atom/ns#}"
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_RSS10 = "{http://purl.org/rss/1.0/}"
_RSS090 = "{http://my.netscape.com/rdf/simple/0.9/}"
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_DCTERMS = "{http://purl.org/dc/terms/}"
_YANDEX = "{http://news.yandex.ru}"
_XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_XHTML_DIV = "{http://www.w3.org/1999/xhtml}div"


def _text(elem: ET.Element) -> str:
    return elem.text or ""


def _join_base(base: str | None, elem: ET.Element, feed_url: str) -> str | None:
    """The xml:base in effect inside ``elem``; ``None`` while no element has set one.

    A relative xml:base on the outermost setter resolves against the feed URL.
    """
    xml_base = elem.get(_XML_BASE)
    if not xml_base:
        return base
    return urljoin(base or feed_url, xml_base.strip())


# Tag sets built once: an f-string in the loop below would be formatted per child.
_RSS_PUBLISHED = frozenset({"pubDate", f"{_DC}date", f"{_DCTERMS}issued", f"{_DCTERMS}created"})
_RSS_UPDATED = frozenset({f"{_ATOM}updated", f"{_DCTERMS}modified"})
_RSS_CONTENT = frozenset({f"{_CONTENT}encoded", f"{_YANDEX}full-text"})
_RDF_ABOUT = f"{_RDF}about"


def _read_rss_item(item: ET.Element, base: str | None, ns: str, feed_url: str) -> _RawEntry:
    # This loop runs for every child of every item: element text is read inline
    # (``child.text or ""``) rather than through _text, which is measurably cheaper.
    raw = _RawEntry(base=_join_base(base, item, feed_url), language=item.get(_XML_LANG))
    if ns:
        raw.id = item.get(_RDF_ABOUT)
    for child in item:
        tag = child.tag
        if ns and tag.startswith(ns):
            tag = tag[len(ns) :]
        if tag == "title":
            raw.title = _Text(child.text or "", True)
        elif tag == "link":
            raw.link = raw.link or child.text or ""
        elif tag == "description":
            raw.summary = _Text(child.text or "", True)
        elif tag == "guid":
            raw.id = child.text or ""
            if child.get("isPermaLink", "true").lower() != "false":
                raw.permalink = raw.id
        elif tag in _RSS_PUBLISHED:
            raw.published = raw.published or child.text or ""
        elif tag in _RSS_UPDATED:
            raw.updated = child.text or ""
        elif tag in _RSS_CONTENT:
            text = child.text or ""
            if raw.content is None or len(text) > len(raw.content.value):
                raw.content = _Text(text, True)
    return raw


def _read_rss(root: ET.Element, feed_url: str) -> _RawFeed:
    if root.tag == "rss":
        ns = ""
        channel = root.find("channel")
        if channel is None:
            raise _NotHandled
        items: Iterable[ET.Element] = channel.iterfind("item")
    else:
        ns = _RSS10 if root.find(f"{_RSS10}channel") is not None else _RSS090
        channel = root.find(f"{ns}channel")
        if channel is None:
            raise _NotHandled
        items = root.iterfind(f"{ns}item")
    base = _join_base(_join_base(None, root, feed_url), channel, feed_url)
    feed = _RawFeed(base=base)
    for child in channel:
        tag = child.tag[len(ns) :] if ns and child.tag.startswith(ns) else child.tag
        if tag == "title":
            feed.title = _Text(_text(child), True)
        elif tag == "link" and feed.link is None:
            feed.link = _text(child)
        elif tag in ("language", f"{_DC}language"):
            feed.language = _text(child)
        elif tag == "ttl":
            feed.ttl = _text(child)
    feed.language = feed.language or channel.get(_XML_LANG) or root.get(_XML_LANG)
    feed.entries = [_read_rss_item(item, base, ns, feed_url) for item in items]
    return feed


def _xhtml_markup(elem: ET.Element, out: list[str]) -> None:
    """Append ``elem`` as plain HTML (no namespace prefixes, no attributes): enough
    for html_to_text to see block boundaries and drop scripts."""
    tag = elem.tag.rpartition("}")[2] if isinstance(elem.tag, str) else ""
    if tag:
        out.append(f"<{tag}>")
    out.append(html_escape(elem.text or "", quote=False))
    for child in elem:
        _xhtml_markup(child, out)
    if tag:
        out.append(f"</{tag}>")
    out.append(html_escape(elem.tail or "", quote=False))


def _atom_text(elem: ET.Element) -> _Text:
    kind = elem.get("type", "text").lower()
    if kind in ("xhtml", "application/xhtml+xml"):
        div = elem.find(_XHTML_DIV)
        holder = div if div is not None else elem
        parts: list[str] = [html_escape(holder.text or "", quote=False)]
        for child in holder:
            _xhtml_markup(child, parts)
        return _Text("".join(parts), True)
    return _Text(_text(elem), kind in ("html", "text/html") or "html" in kind)


def _atom_link(elem: ET.Element, base: str | None, feed_url: str) -> str | None:
    """The alternate link's href resolved against its own xml:base, if any."""
    href = elem.get("href")
    if elem.tag.startswith(_ATOM03) and href is None:
        href = elem.text
    if not href:
        return None
    link_base = _join_base(base, elem, feed_url)
    return urljoin(link_base, href.strip()) if link_base else href


def _read_atom(root: ET.Element, feed_url: str) -> _RawFeed:
    ns = _ATOM if root.tag.startswith(_ATOM) else _ATOM03
    feed = _RawFeed(base=_join_base(None, root, feed_url), language=root.get(_XML_LANG))
    for child in root:
        tag = child.tag
        if tag == f"{ns}title":
            feed.title = _atom_text(child)
        elif tag == f"{ns}link" and child.get("rel", "alternate") == "alternate":
            feed.link = feed.link or _atom_link(child, feed.base, feed_url)
        elif tag == f"{ns}entry":
            feed.entries.append(_read_atom_entry(child, feed.base, ns, feed_url))
    return feed


def _read_atom_entry(elem: ET.Element, base: str | None, ns: str, feed_url: str) -> _RawEntry:
    raw = _RawEntry(base=_join_base(base, elem, feed_url), language=elem.get(_XML_LANG))
    for child in elem:
        tag = child.tag
        if not tag.startswith(ns):
            if tag == f"{_YANDEX}full-text" and raw.content is None:
                raw.content = _Text(_text(child), True)
            continue
        tag = tag[len(ns) :]
        if tag == "id":
            raw.id = _text(child)
        elif tag == "title":
            raw.title = _atom_text(child)
        elif tag == "link" and child.get("rel", "alternate") == "alternate":
            raw.link = raw.link or _atom_link(child, raw.base, feed_url)
        elif tag == "summary":
            raw.summary = _atom_text(child)
        elif tag == "content" and child.get("src") is None:
            raw.content = _atom_text(child)
        elif tag in ("published", "issued", "created"):
            raw.published = raw.published or _text(child)
        elif tag in ("updated", "modified"):
            raw.updated = raw.updated or _text(child)
    return raw


# expat names an entity without "&" and ";": "mdash", not "mdash;".
_HTML_ENTITIES = {name.rstrip(";"): value for name, value in html5.items()}


def _fast_read(text: str, feed_url: str, utf8_body: bytes | None = None) -> _RawFeed:
    """Read a well-formed document; raises ET.ParseError or _NotHandled otherwise.

    ``utf8_body``, when given, is the body ``text`` was decoded from as plain UTF-8
    (no BOM): expat then reads those bytes instead of re-encoding ``text``.
    """
    if "<!ENTITY" in text:
        raise _NotHandled  # entity declarations: let feedparser's safe handling deal
    # Safe for untrusted input: expat >= 2.4 limits entity amplification, external
    # entities are never fetched by ElementTree, and declarations were refused above.
    # The declaration is dropped (the text is already decoded), so expat is told the
    # encoding: UTF-8, as when it is given a str.
    parser = ET.XMLParser(encoding="utf-8")  # noqa: S314
    # Undefined HTML entities are legal only behind a DOCTYPE; expat asks the
    # parser's entity table for them. Feeds copying RSS 0.91's DOCTYPE use &nbsp; etc.
    # Without a DOCTYPE expat never consults the table: skip filling its 2,000 names.
    if "<!DOCTYPE" in text:
        parser.entity.update(_HTML_ENTITIES)
    declaration = _XML_DECL.match(text)
    if utf8_body is not None:
        # The same bytes expat would get from the text, without encoding ~100 KB again.
        skip = len(text[: declaration.end()].encode("utf-8")) if declaration else 0
        parser.feed(utf8_body[skip:])
    else:
        parser.feed(text[declaration.end() :] if declaration else text)
    root = parser.close()
    if root.tag in ("rss", f"{_RDF}RDF"):
        return _read_rss(root, feed_url)
    if root.tag in (f"{_ATOM}feed", f"{_ATOM03}feed"):
        return _read_atom(root, feed_url)
    raise _NotHandled


# --------------------------------------------------------------------------- feedparser reader


def _get(mapping: Any, key: str) -> Any:
    """A stored key of a FeedParserDict, bypassing its aliases (one of which warns)."""
    return dict.get(mapping, key) if isinstance(mapping, dict) else None


def _fp_text(detail: Any, value: Any, is_rss: bool) -> _Text | None:
    if not isinstance(value, str):
        return None
    kind = _get(detail, "type") or "text/html"
    # In RSS, feedparser guesses "text/plain" for text without tags; RSS text is HTML.
    return _Text(value, is_rss or kind != "text/plain")


def _fp_read(text: str, feed_url: str) -> tuple[_RawFeed, bool, str | None]:
    """Read with feedparser's loose parser: (raw feed, bozo, bozo message)."""
    data = _XML_DECL.sub('<?xml version="1.0" encoding="utf-8"?>', text, count=1).encode("utf-8")
    result = feedparser.parse(
        data,
        response_headers={"content-type": "application/xml; charset=utf-8"},
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    version = str(_get(result, "version") or "")
    is_rss = not version.startswith("atom")
    fd = result.feed
    ttl = _get(fd, "ttl")
    feed = _RawFeed(
        title=_fp_text(_get(fd, "title_detail"), _get(fd, "title"), is_rss),
        link=_get(fd, "link"),
        language=_get(fd, "language"),
        ttl=ttl if isinstance(ttl, str) else None,
    )
    for e in result.entries:
        raw = _RawEntry(
            id=_get(e, "id"),
            link=_get(e, "link"),
            title=_fp_text(_get(e, "title_detail"), _get(e, "title"), is_rss),
            published=_get(e, "published"),
            updated=_get(e, "updated"),
        )
        if _get(e, "guidislink"):
            raw.permalink = _get(e, "id")
        if _get(e, "summary_detail") is not None:
            raw.summary = _fp_text(_get(e, "summary_detail"), _get(e, "summary"), is_rss)
        for content in _get(e, "content") or ():
            candidate = _fp_text(content, _get(content, "value"), is_rss)
            if candidate and (raw.content is None or len(candidate.value) > len(raw.content.value)):
                raw.content = candidate
        for key, value in e.items():
            if key.endswith("full-text") and isinstance(value, str) and raw.content is None:
                raw.content = _Text(value, True)
        detail = _get(e, "title_detail") or _get(e, "summary_detail")
        if isinstance(detail, dict):
            raw.language = _get(detail, "language")
        feed.entries.append(raw)
    error = _get(result, "bozo_exception")
    return feed, bool(_get(result, "bozo")), _describe_xml_error(error) if error else None


# --------------------------------------------------------------------------- dates

# Zone names the email parser does not know but regional feeds use. Kazakhstan has
# been on a single UTC+5 zone since March 2024.
_ZONES = {
    "MSK": "+0300",
    "AZT": "+0400",
    "UZT": "+0500",
    "TJT": "+0500",
    "TMT": "+0500",
    "ALMT": "+0500",
    "QYZT": "+0500",
    "AQTT": "+0500",
    "KGT": "+0600",
    "CET": "+0100",
    "CEST": "+0200",
    "BST": "+0100",
    "IST": "+0530",
}
_ZONE_NAME = re.compile(r"\b([A-Z]{3,4})\s*$")
# What nearly every RSS feed writes: "Fri, 20 Nov 2026 11:57:00 +0500". Reading it
# here gives exactly what email.utils.parsedate_to_datetime gives (same fields, same
# offset arithmetic) at a fraction of the cost; any other shape, or a value out of
# range, goes the general way below.
_RFC822 = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?([0-9]{1,2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([1-9][0-9]{3}) "
    r"([0-9]{2}):([0-9]{2})(?::([0-9]{2}))? (?:([+-])([0-9]{2})([0-9]{2})|GMT|UTC|UT)",
    re.ASCII,
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
        start=1,
    )
}


def _rfc822_date(text: str) -> datetime | None:
    """``text`` read as a strict RFC 822 date, or ``None`` (then the general path decides)."""
    match = _RFC822.fullmatch(text)
    if match is None:
        return None
    day, month, year, hour, minute, second, sign, zone_hours, zone_minutes = match.groups()
    # email.utils computes "+HHMM" as HH hours plus MM minutes, unchecked; so do we.
    offset = int(zone_hours) * 3600 + int(zone_minutes) * 60 if sign else 0
    if offset >= 86400:
        return None
    try:
        value = datetime(
            int(year),
            _MONTHS[month],
            int(day),
            int(hour),
            int(minute),
            int(second) if second else 0,
            tzinfo=UTC
            if not offset
            else timezone(timedelta(seconds=-offset if sign == "-" else offset)),
        )
    except ValueError:
        return None
    return value.astimezone(UTC)


def parse_date(raw: str | None) -> datetime | None:
    """An aware UTC datetime from a feed date (RFC 822, ISO 8601, and feedparser's
    many fallbacks), or ``None``. A date without a zone is taken as UTC."""
    if not raw or not (text := raw.strip()):
        return None
    if fast := _rfc822_date(text):
        return fast
    value: datetime | None = None
    # RFC 822 dates start with a day name or a day number followed by a month name.
    if text[:1].isalpha() or (" " in text and not text[:4].isdigit()):
        zone = _ZONE_NAME.search(text)
        if zone and zone.group(1) in _ZONES:
            text = text[: zone.start(1)] + _ZONES[zone.group(1)]
        try:
            value = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            value = None
    if value is None:
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            value = None
    if value is None:
        try:
            parsed = feedparser.datetimes._parse_date(text)
        except Exception:  # third-party date guessers may raise anything
            parsed = None
        if parsed is None:
            return None
        year, month, day, hour, minute, second = parsed[:6]
        value = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


# --------------------------------------------------------------------------- languages

_LANGUAGE_ALIASES = {"en": "en", "ru": "ru", "kk": "kk", "kz": "kk", "uz": "uz"}


#: The longest ``<ttl>`` read as such; longer ones are kept at this (a week, in minutes).
_TTL_CEILING_MINUTES = 7 * 24 * 60


def feed_ttl(raw: str | None) -> timedelta | None:
    """An RSS ``<ttl>`` (minutes) as a duration: ``None`` unless it is a positive whole
    number; at most a week (the scheduler caps it much lower anyway)."""
    if raw is None:
        return None
    text = raw.strip()
    if not (text.isascii() and text.isdigit()):
        return None
    # A digit string past 12 places is past the ceiling: no need to convert it.
    minutes = _TTL_CEILING_MINUTES if len(text) > 12 else int(text)
    if minutes <= 0:
        return None
    return timedelta(minutes=min(minutes, _TTL_CEILING_MINUTES))


def feed_language(code: str | None) -> str | None:
    """Our language code for a feed's language tag (``ru-RU``, ``kz``, ``uz-Latn``...)."""
    if not code:
        return None
    primary = code.strip().lower().replace("_", "-").split("-", 1)[0]
    return _LANGUAGE_ALIASES.get(primary)


# --------------------------------------------------------------------------- entries


def _plain(text: _Text | None) -> str:
    if text is None or not text.value:
        return ""
    if text.is_html:
        return html_to_text(text.value)
    return fold_whitespace(strip_unsafe_markup(text.value))


def _entry_url(raw: _RawEntry, base: str) -> str | None:
    for candidate in (raw.link, raw.permalink):
        if candidate and (url := canonical_url(candidate, raw.base or base)):
            return url
    return None


@dataclass
class _Dated:
    raw: _RawEntry
    url: str
    guid: str
    published_at: datetime
    estimated: bool


def _build_entry(
    item: _Dated, *, language: str | None, feed_lang: str | None
) -> ParsedEntry | None:
    raw = item.raw
    title_text = raw.title.value if raw.title else ""
    summary_full = _plain(raw.summary)
    content_full = _plain(raw.content) if raw.content is not None else ""
    if not summary_full:
        summary_full = content_full
    summary = truncate(summary_full, SUMMARY_LIMIT)
    content = truncate(content_full, CONTENT_LIMIT) if len(content_full) > len(summary) else ""
    title = clean_title(title_text, is_html=raw.title.is_html) if raw.title else ""
    if not title:
        title = truncate(summary, FALLBACK_TITLE_LIMIT)
    if not title:
        return None
    lang = (
        language
        or (raw.language and feed_language(raw.language))
        or feed_lang
        or detect_language(f"{title} {summary}")
        or "en"
    )
    return ParsedEntry(
        guid=item.guid,
        url=item.url,
        title=title,
        summary=summary,
        content=content,
        language=lang,
        published_at=item.published_at,
        published_estimated=item.estimated,
        content_hash=content_hash(title, summary, content),
    )


def _describe_xml_error(error: object) -> str:
    if isinstance(error, ET.ParseError):
        message = str(error).split(":", 1)[0]
        line, column = error.position
        return f"line {line}, column {column + 1}: {message}"
    get_line = getattr(error, "getLineNumber", None)
    message = str(getattr(error, "getMessage", lambda: str(error))())
    # SAX errors read "<unknown>:3:2: mismatched tag"; keep only the reason.
    message = message.rsplit(": ", 1)[-1] if ": " in message else message
    if callable(get_line):
        return f"line {get_line()}: {message}"
    return message or type(error).__name__


#: Limits on a DOCTYPE's own entity declarations. Real feeds declare a few HTML names
#: (``<!ENTITY nbsp "&#160;">``); an expansion attack needs entities that refer to
#: other entities ("billion laughs") or long values referenced many times.
MAX_ENTITY_DECLARATIONS = 300
MAX_ENTITY_VALUE = 1_000
_DOCTYPE_SUBSET = re.compile(r"<!DOCTYPE[^\[>]*\[(.*?)\]\s*>", re.DOTALL)
_ENTITY_DECL = re.compile(
    r"""<!ENTITY\s+(%\s+)?([^\s"'>]+)\s+(?:"([^"]*)"|'([^']*)'|(SYSTEM|PUBLIC)\b)"""
)
#: A reference to a named entity (not a character reference such as ``&#160;``).
_ENTITY_REFERENCE = re.compile(r"[&%][^#\s;&%]+;")
_CHAR_REFERENCE = re.compile(r"&#(?:[xX]([0-9A-Fa-f]{1,6})|([0-9]{1,7}));")


def _char(match: re.Match[str]) -> str:
    code = int(match.group(1), 16) if match.group(1) else int(match.group(2))
    return chr(code) if code <= 0x10FFFF else ""


def unsafe_doctype(text: str) -> str | None:
    """Why ``text``'s DOCTYPE makes it unsafe to parse, or ``None`` when it is fine.

    Refused: entities whose value refers to another entity (the "billion laughs"
    expansion, also when spelt with character references such as ``&#38;x;``), values
    over :data:`MAX_ENTITY_VALUE` characters (quadratic blow-up), more than
    :data:`MAX_ENTITY_DECLARATIONS` declarations, and internal parameter entities (they
    only serve to build more declarations). External entities (``SYSTEM``/``PUBLIC``,
    general or parameter, as in the XHTML entity-set imports some feeds copy) are
    allowed: no reader here ever fetches or opens them, they expand to nothing.
    """
    if "<!ENTITY" not in text:
        return None
    subset = _DOCTYPE_SUBSET.search(text)
    # An entity declaration outside a well-formed internal subset: the readers treat
    # it as text, but refuse it anyway rather than guess what a parser will do.
    declarations = subset.group(1) if subset else text
    count = 0
    for match in _ENTITY_DECL.finditer(declarations):
        count += 1
        parameter, name, double, single, _external = match.groups()
        value = double if double is not None else single
        if value is None:
            continue  # external: never read
        if parameter:
            return f"internal parameter entity %{name}; declared"
        if len(value) > MAX_ENTITY_VALUE:
            return f"entity &{name}; is longer than {MAX_ENTITY_VALUE} characters"
        # Character references are replaced when the declaration is read, so
        # "&#38;x;" becomes a reference to &x; on use: decode them before looking.
        if _ENTITY_REFERENCE.search(_CHAR_REFERENCE.sub(_char, value)):
            return f"entity &{name}; refers to other entities (entity expansion)"
    if count > MAX_ENTITY_DECLARATIONS:
        return f"more than {MAX_ENTITY_DECLARATIONS} entity declarations"
    return None


_HTML_START = re.compile(
    r"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>]|head[\s>]|body[\s>])", re.I | re.S
)
_NOT_A_FEED_HTML = "not a feed: the server returned an HTML page"
#: The media types of ``<link rel="alternate">`` tags that name a feed.
_FEED_TYPES = frozenset(
    {"application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/xml"}
)
#: How much of a page is searched for its feed links (they are in its ``<head>``).
_DISCOVERY_CHARS = 256 * 1024
#: Feeds named in the error, at most (a site's main feed comes first, then comments...).
_DISCOVERED_SHOWN = 2
#: Longer feed addresses are not named (an error message stays readable and bounded).
_DISCOVERED_MAX_CHARS = 300


def advertised_feeds(page: str, page_url: str) -> list[str]:
    """The feeds an HTML page names in its ``<link rel="alternate" type="...">`` tags,
    as browsers and feed readers discover them: absolute http(s) URLs (resolved against
    the page's ``<base href>``, else ``page_url``; canonical, see
    :func:`jobs.normalise.canonical_url`), in page order, without repeats or the page
    itself. Only the first 256 KB of the page are read."""
    tree = LexborHTMLParser(page[:_DISCOVERY_CHARS])
    base = page_url
    base_tag = tree.css_first("base[href]")
    if base_tag is not None:
        base = urljoin(page_url, (base_tag.attributes.get("href") or "").strip())
    itself = canonical_url(page_url)
    found: list[str] = []
    for link in tree.css("link[href]"):
        attributes = link.attributes
        rel = (attributes.get("rel") or "").lower().split()
        kind = (attributes.get("type") or "").split(";")[0].strip().lower()
        if "alternate" not in rel or kind not in _FEED_TYPES:
            continue
        url = canonical_url(attributes.get("href") or "", base)
        if url is not None and url != itself and url not in found:
            found.append(url)
    return found


def _html_page_error(page: str, page_url: str) -> str:
    """Why an HTML page is not a feed, naming the feeds it links to (the operator
    probably configured a site's home page: here is what to put instead)."""
    named = [url for url in advertised_feeds(page, page_url) if len(url) <= _DISCOVERED_MAX_CHARS]
    feeds = named[:_DISCOVERED_SHOWN]
    if not feeds:
        return _NOT_A_FEED_HTML
    if len(feeds) == 1:
        return f"{_NOT_A_FEED_HTML}; it names a feed at {feeds[0]} (configure that URL instead)"
    listed = ", ".join(feeds)
    return f"{_NOT_A_FEED_HTML}; it names feeds at {listed} (configure one of them instead)"


def parse_feed(
    body: bytes,
    *,
    content_type: str | None,
    feed_url: str,
    language: str | None,
    now: datetime,
    max_entries: int = 500,
    max_future: timedelta = timedelta(hours=1),
) -> ParsedFeed:
    """Parse and normalise one feed body. Never raises.

    ``language`` is the operator's setting for the feed (``None``: use the feed's
    ``<language>``, else detect per entry). ``now`` (aware UTC) stands in for
    entries without a usable date and caps dates more than ``max_future`` ahead.
    At most ``max_entries`` entries are kept: the newest ones, in document order.
    """
    try:
        return _parse_feed(
            body,
            content_type=content_type,
            feed_url=feed_url,
            language=language,
            now=now,
            max_entries=max_entries,
            max_future=max_future,
        )
    except Exception as exc:  # the contract is "never raises"
        return ParsedFeed(title="", link=None, error=f"could not parse the feed: {exc!r}")


def _parse_feed(
    body: bytes,
    *,
    content_type: str | None,
    feed_url: str,
    language: str | None,
    now: datetime,
    max_entries: int,
    max_future: timedelta,
    force_feedparser: bool = False,
) -> ParsedFeed:
    if not body or body.isspace():  # not body.strip(), which would copy the body
        return ParsedFeed(title="", link=None, error="empty body: the server returned no content")
    text, warnings, plain_utf8 = _decode(body, content_type)
    if _HTML_START.match(_XML_DECL.sub("", text[:2048], count=1)):
        return ParsedFeed(title="", link=None, error=_html_page_error(text, feed_url))
    if (unsafe := unsafe_doctype(text)) is not None:
        return ParsedFeed(title="", link=None, error=f"unsafe XML: {unsafe}", warnings=warnings)
    raw_feed: _RawFeed | None = None
    xml_error: str | None = None
    if not force_feedparser:
        try:
            raw_feed = _fast_read(text, feed_url, body if plain_utf8 else None)
        except ET.ParseError as exc:
            xml_error = _describe_xml_error(exc)
        except _NotHandled:
            pass
    if raw_feed is None:
        raw_feed, bozo, fp_error = _fp_read(text, feed_url)
        xml_error = xml_error or fp_error
        if not raw_feed.entries:
            if xml_error and bozo:
                return ParsedFeed(
                    title="", link=None, error=f"malformed XML at {xml_error}", warnings=warnings
                )
            if raw_feed.title is None and raw_feed.link is None:
                return ParsedFeed(
                    title="",
                    link=None,
                    error="not a feed: no RSS or Atom document found",
                    warnings=warnings,
                )
        elif bozo and xml_error:
            warnings.append(
                f"ill-formed XML ({xml_error}), recovered {len(raw_feed.entries)} entries"
            )
    return _normalise(
        raw_feed,
        warnings,
        feed_url=feed_url,
        language=feed_language(language),
        now=now,
        max_entries=max_entries,
        max_future=max_future,
    )


def _normalise(
    raw_feed: _RawFeed,
    warnings: list[str],
    *,
    feed_url: str,
    language: str | None,
    now: datetime,
    max_entries: int,
    max_future: timedelta,
) -> ParsedFeed:
    feed_link = canonical_url(raw_feed.link, raw_feed.base or feed_url) if raw_feed.link else None
    # Relative entry links resolve against xml:base, else the site's own link, else
    # the feed URL: a feed served from a CDN host still links to the site.
    base = raw_feed.base or feed_link or feed_url
    feed_lang = feed_language(raw_feed.language)
    latest = now + max_future
    skipped = 0
    duplicates = 0
    seen: set[str] = set()
    dated: list[_Dated] = []
    for raw in raw_feed.entries:
        url = _entry_url(raw, base)
        if url is None:
            skipped += 1
            continue
        guid = (raw.id or "").strip() or url
        if guid in seen:
            duplicates += 1
            continue
        seen.add(guid)
        published = parse_date(raw.published) or parse_date(raw.updated)
        if published is None or published > latest:
            dated.append(_Dated(raw, url, guid, now, estimated=True))
        else:
            dated.append(_Dated(raw, url, guid, published, estimated=False))
    if duplicates:
        warnings.append(f"dropped {duplicates} entries with a repeated guid")
    if len(dated) > max_entries:
        newest = sorted(range(len(dated)), key=lambda i: dated[i].published_at, reverse=True)
        keep = set(newest[:max_entries])
        warnings.append(f"feed has {len(dated)} entries, kept the newest {max_entries}")
        dated = [item for i, item in enumerate(dated) if i in keep]
    entries: list[ParsedEntry] = []
    for item in dated:
        entry = _build_entry(item, language=language, feed_lang=feed_lang)
        if entry is None:
            skipped += 1
        else:
            entries.append(entry)
    if skipped and not entries:
        # Items that all lack a web link (or any text) give nothing to read: tell the
        # operator, rather than report a healthy feed that never yields an article.
        return ParsedFeed(
            title="",
            link=None,
            error=(
                f"no usable entries: none of the {skipped} entries has an http(s) link"
                " and a title or text"
            ),
            warnings=warnings,
            skipped=skipped,
        )
    return ParsedFeed(
        title=clean_title(raw_feed.title.value, is_html=raw_feed.title.is_html, limit=TITLE_LIMIT)
        if raw_feed.title
        else "",
        link=feed_link,
        entries=entries,
        warnings=warnings,
        skipped=skipped,
        ttl=feed_ttl(raw_feed.ttl),
    )
