"""The daily digest as Telegram HTML messages: pure, and tested with golden files.

A digest is a header (the date in the chat's time zone), then one section per topic,
each item the title as a link, the outlet's flag and name, a one-line summary, the
other outlets that covered the story and why it was chosen. Everything that came from
outside is escaped through :func:`bot.i18n.escape` (and :class:`bot.i18n.Translator`
escapes every placeholder), so a title like ``<script>`` or ``AT&T`` is text.

Messages are cut *between* items, never inside one (so never inside a tag or an
entity): an item is a unit, a section's heading travels with its first item, and a
message holds as many whole units as fit in :data:`MAX_MESSAGE` characters as
Telegram counts them (UTF-16 code units of the text without markup, which is what the
Bot API limits; :func:`telegram_length`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import date
from functools import lru_cache
from typing import Final, NamedTuple
from zoneinfo import ZoneInfo

from babel.dates import format_date

from bot.i18n import Translator, escape
from jobs.digest.selection import Digest, Item
from storage.records import ChatSettings

MAX_MESSAGE: Final = 4096
MAX_TITLE: Final = 300
MAX_SUMMARY: Final = 220
MAX_ALSO: Final = 5
_ELLIPSIS: Final = "…"
_TAG = re.compile(r"<[^>]*>")
_LINK = re.compile(r'<a href="([^"]*)">(.*?)</a>', re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s")


def render_digest(
    t: Translator, chat: ChatSettings, digest: Digest, *, limit: int = MAX_MESSAGE
) -> list[str]:
    """The digest's messages, in order; an empty digest is the one "quiet day" note."""
    lang = chat.language
    local_day = digest.built_at.astimezone(_zone(chat.timezone)).date()
    header = t.text(lang, "digest_title", date=_long_date(local_day, lang))
    if digest.is_empty:
        return [f"{header}\n\n{t.text(lang, 'digest_quiet')}"]
    units: list[tuple[str, int]] = [(header, telegram_length(header))]
    for section in digest.sections:
        heading, heading_length = _heading(t, lang, section.topic)
        for number, item in enumerate(section.items, start=1):
            text, length = _numbered(number, _item_body(t, chat, item))
            if number == 1:
                text, length = f"{heading}\n{text}", heading_length + 1 + length
            units.append((text, length))
    return _pack_measured(units, limit=limit, separator="\n\n")


def render_item(t: Translator, chat: ChatSettings, number: int, item: Item) -> str:
    """One story: linked title; flag, outlet and summary; other outlets; the reason."""
    return _numbered(number, _item_body(t, chat, item))[0]


class _ItemKey(NamedTuple):
    """What an item's text depends on, besides the language and the catalogs."""

    title: str
    url: str
    outlet: str
    outlet_country: str
    summary: str
    also: tuple[str, ...]
    topic: str
    countries: tuple[str, ...]
    """The article's countries the chat follows (at most two are named)."""


def _item_body(t: Translator, chat: ChatSettings, item: Item) -> tuple[str, int]:
    article = item.article
    countries = tuple(c for c in article.countries if c in chat.countries)[:2]
    key = _ItemKey(
        article.title,
        article.url,
        article.outlet,
        article.outlet_country,
        article.summary,
        item.also,
        item.topic,
        countries,
    )
    return _render_body(t, chat.language, key)


def _numbered(number: int, body: tuple[str, int]) -> tuple[str, int]:
    prefix = f"{number}. "
    return prefix + body[0], len(prefix) + body[1]


# A fan-out renders the same few hundred stories for thousands of chats in a handful
# of languages: an item's text (and its measured length) is computed once per story,
# language, reason and shown countries. Everything in the key is immutable.
@lru_cache(maxsize=16_384)
def _render_body(t: Translator, lang: str, key: _ItemKey) -> tuple[str, int]:
    """An item without its number, and its length as Telegram counts it."""
    lines = [f'<a href="{escape(key.url)}">{escape(_cut(key.title, MAX_TITLE))}</a>']
    source = f"{flag(key.outlet_country)} <i>{escape(key.outlet)}</i>"
    line = one_line(key.summary)
    lines.append(f"{source} · {escape(line)}" if line else source)
    if key.also:
        shown = list(key.also[:MAX_ALSO])
        if len(key.also) > MAX_ALSO:
            shown.append(f"+{len(key.also) - MAX_ALSO}")
        lines.append(t.text(lang, "digest_also", outlets=", ".join(shown)))
    places = ", ".join(t.text(lang, f"country_{c}") for c in key.countries)
    reason = t.text(lang, "digest_why", topic=t.text(lang, f"topic_{key.topic}"), countries=places)
    lines.append(reason)
    body = "\n".join(lines)
    return body, telegram_length(body)


@lru_cache(maxsize=256)
def _heading(t: Translator, lang: str, topic: str) -> tuple[str, int]:
    heading = f"<b>{escape(t.text(lang, f'topic_{topic}'))}</b>"
    return heading, telegram_length(heading)


@lru_cache(maxsize=1024)
def _long_date(day: date, lang: str) -> str:
    return str(format_date(day, "long", locale=lang))


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def pack(units: Sequence[str], *, limit: int = MAX_MESSAGE, separator: str = "\n\n") -> list[str]:
    """Whole units into as few messages as possible, each within ``limit`` as Telegram
    counts (:func:`telegram_length`), in order. A unit too long on its own (cannot
    happen with the caps above) is cut as plain text rather than dropped."""
    return _pack_measured(
        [(u, telegram_length(u)) for u in units], limit=limit, separator=separator
    )


def _pack_measured(units: Sequence[tuple[str, int]], *, limit: int, separator: str) -> list[str]:
    """:func:`pack` for units whose Telegram length is known already."""
    messages: list[str] = []
    current, current_length = "", 0
    gap = telegram_length(separator)
    for raw, raw_length in units:
        unit, length = raw, raw_length
        if length > limit:
            unit = escape(_cut(visible_text(raw), limit))
            length = telegram_length(unit)
        # Units are whole elements, so lengths add up: no re-measuring the message.
        if current and current_length + gap + length > limit:
            messages.append(current)
            current, current_length = "", 0
        if current:
            current, current_length = f"{current}{separator}{unit}", current_length + gap + length
        else:
            current, current_length = unit, length
    if current:
        messages.append(current)
    return messages


def visible_text(message: str) -> str:
    """What the reader sees: markup removed, entities decoded."""
    return html.unescape(_TAG.sub("", message))


def plain_text(message: str) -> str:
    """The message for a plain-text resend: markup removed, each link's address spelt
    out after its text (if that still fits in a message; otherwise just the text)."""
    spelt = visible_text(_LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", message))
    return spelt if telegram_length(spelt, markup=False) <= MAX_MESSAGE else visible_text(message)


def telegram_length(message: str, *, markup: bool = True) -> int:
    """Length as the Bot API counts it: UTF-16 code units of the visible text."""
    text = visible_text(message) if markup else message
    return len(text.encode("utf-16-le")) // 2


def flag(country: str) -> str:
    """The flag emoji of an ISO 3166-1 alpha-2 code (``uz`` -> 🇺🇿); ``""`` if not one."""
    if len(country) != 2 or not country.isascii() or not country.isalpha():
        return ""
    return "".join(chr(0x1F1E6 + ord(letter) - ord("a")) for letter in country.lower())


def one_line(summary: str, *, limit: int = MAX_SUMMARY) -> str:
    """The summary's first sentence on one line, at most ``limit`` characters."""
    flat = " ".join(summary.split())
    first = _SENTENCE_END.split(flat, maxsplit=1)[0] if flat else ""
    return _cut(first, limit)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + _ELLIPSIS


__all__ = [
    "MAX_MESSAGE",
    "flag",
    "one_line",
    "pack",
    "plain_text",
    "render_digest",
    "render_item",
    "telegram_length",
    "visible_text",
]
