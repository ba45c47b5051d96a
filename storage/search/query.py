"""The search syntax users type, parsed into a :class:`ParsedQuery`. Pure; never raises.

Syntax (the same in ``steppe find`` and the bot's ``/find``):

* plain words: every one must match (``astana hub``);
* ``"quoted phrases"``: the words in this order, next to each other; a quote left
  open runs to the end of the query; ``«ёлочки»`` and curly quotes work too;
* ``-word`` and ``-"a phrase"``: results must not contain it;
* filters ``topic:energy``, ``country:uz``, ``lang:ru``, ``since:7d`` (also ``24h``,
  ``2w``, ``3m``, ``1y``) or ``since:2026-01-01``; several values with commas
  (``country:kz,uz``) or by repeating the filter mean "any of them".

Everything else is text: ``AND``, ``NEAR(...)``, ``*``, ``^``, ``title:``, SQL
fragments and emoji are just characters, which the analyser either indexes as words or
drops. A filter with a value it does not know (``topic:sport``) is ignored with a
:class:`~storage.search.results.QueryNote` the caller shows the user.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Final

from storage.records import COUNTRIES, LANGUAGES, TOPICS
from storage.search.results import NoteKind, QueryNote

#: Longer queries are refused whole (:attr:`SearchStatus.TOO_LONG`), not cut: a cut
#: query would silently search for something the user did not type.
MAX_QUERY_CHARS: Final = 512
#: Words and phrases kept from one query (the rest are ignored with a note): every
#: one is a join in the index, and no real question needs more.
MAX_TERMS: Final = 12

_QUOTES: Final = '"«»“”„‟'
_EXCLUDE: Final = "-−–"
# A piece of text that can hold a word: letters, digits, hyphens inside words and
# apostrophes (the analyser decides what they mean).
_PIECE: Final = re.compile(r"[^\W_]+(?:[-‐‑'ʻʼ’‘`´′][^\W_]+)*")
_FILTER: Final = re.compile(r"(?i)^(topic|topics|country|countries|lang|language|since):(.*)$")
_RELATIVE: Final = re.compile(r"(?i)^(\d{1,4})([hdwmy])$")
_UNITS: Final = {"h": 1 / 24, "d": 1, "w": 7, "m": 30, "y": 365}

TOPIC_ALIASES: Final[dict[str, str]] = {
    **{topic: topic for topic in TOPICS},
    "it": "it_hubs",
    "ithubs": "it_hubs",
    "it-hubs": "it_hubs",
    "tech": "it_hubs",
    "startups": "it_hubs",
    "politics": "policy",
}
COUNTRY_ALIASES: Final[dict[str, str]] = {
    **{country: country for country in COUNTRIES},
    "kazakhstan": "kz",
    "uzbekistan": "uz",
    "kyrgyzstan": "kg",
    "tajikistan": "tj",
    "turkmenistan": "tm",
    "azerbaijan": "az",
}
LANGUAGE_ALIASES: Final[dict[str, str]] = {
    **{language: language for language in LANGUAGES},
    "english": "en",
    "russian": "ru",
    "kazakh": "kk",
    "uzbek": "uz",
}


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """A query's parts. Words are as the user typed them; the analyser reads them later.

    ``required`` and ``excluded`` hold phrases: a plain word is a phrase of one word.
    """

    required: tuple[tuple[str, ...], ...] = ()
    excluded: tuple[tuple[str, ...], ...] = ()
    topics: frozenset[str] = frozenset()
    countries: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    since: datetime | None = None
    notes: tuple[QueryNote, ...] = field(default=())

    @property
    def has_filters(self) -> bool:
        """True when a topic, country, language or date filter is set."""
        return bool(self.topics or self.countries or self.languages or self.since)


def is_too_long(text: str) -> bool:
    """True when ``text`` exceeds :data:`MAX_QUERY_CHARS` (after trimming blanks)."""
    return len(text.strip()) > MAX_QUERY_CHARS


def parse_query(text: str, *, now: datetime) -> ParsedQuery:
    """Split ``text`` into phrases, exclusions and filters; ``now`` anchors ``since:7d``.

    Never raises: unknown filter values become notes, odd characters become spaces,
    and an unbalanced quote closes at the end. Callers check :func:`is_too_long`
    first; a longer text is parsed anyway (its first :data:`MAX_QUERY_CHARS`).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    cleaned = _clean(text[: MAX_QUERY_CHARS * 2])
    required: list[tuple[str, ...]] = []
    excluded: list[tuple[str, ...]] = []
    filters: dict[str, set[str]] = {"topic": set(), "country": set(), "lang": set()}
    since: datetime | None = None
    notes: list[QueryNote] = []

    for negated, quoted, chunk in _chunks(cleaned):
        match = None if quoted else _FILTER.match(chunk)
        if match is not None and match.group(2) and not negated:
            key = _canonical_key(match.group(1))
            value = match.group(2)
            if key == "since":
                moment = _since(value, now)
                if moment is None:
                    notes.append(QueryNote(NoteKind.BAD_SINCE, value))
                else:
                    since = moment if since is None else max(since, moment)
            else:
                _add_filter_values(key, value, filters[key], notes)
            continue
        words = tuple(piece.group() for piece in _PIECE.finditer(chunk))
        if not words:
            continue
        if negated:
            excluded.append(words)
        elif quoted:
            required.append(words)
        else:
            # Punctuation inside an unquoted chunk separates words ("Astana,Almaty").
            required.extend((word,) for word in words)

    if len(required) + len(excluded) > MAX_TERMS:
        kept_required = required[:MAX_TERMS]
        kept_excluded = excluded[: max(0, MAX_TERMS - len(kept_required))]
        dropped = [*required[MAX_TERMS:], *excluded[len(kept_excluded) :]]
        notes.append(QueryNote(NoteKind.TOO_MANY_WORDS, " ".join(" ".join(p) for p in dropped)))
        required, excluded = kept_required, kept_excluded

    return ParsedQuery(
        required=tuple(dict.fromkeys(required)),
        excluded=tuple(dict.fromkeys(excluded)),
        topics=frozenset(filters["topic"]),
        countries=frozenset(filters["country"]),
        languages=frozenset(filters["lang"]),
        since=since,
        notes=tuple(notes),
    )


def _clean(text: str) -> str:
    """Control and format characters (and other non-printing ones) become spaces."""
    return "".join(
        " " if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") else char
        for char in unicodedata.normalize("NFC", text)
    )


def _chunks(text: str) -> list[tuple[bool, bool, str]]:
    """``(negated, quoted, text)`` chunks: quoted phrases and space-separated words."""
    chunks: list[tuple[bool, bool, str]] = []
    position, length = 0, len(text)
    while position < length:
        char = text[position]
        if char.isspace():
            position += 1
            continue
        negated = False
        if char in _EXCLUDE and position + 1 < length and not text[position + 1].isspace():
            negated = True
            position += 1
            char = text[position]
        if char in _QUOTES:
            end = position + 1
            while end < length and text[end] not in _QUOTES:
                end += 1
            chunks.append((negated, True, text[position + 1 : end]))
            position = end + 1
            continue
        end = position
        while end < length and not text[end].isspace() and text[end] not in _QUOTES:
            end += 1
        chunks.append((negated, False, text[position:end]))
        position = end
    return chunks


def _canonical_key(key: str) -> str:
    key = key.lower()
    if key.startswith("topic"):
        return "topic"
    if key.startswith("countr"):
        return "country"
    if key.startswith("lang"):
        return "lang"
    return "since"


def _add_filter_values(key: str, value: str, into: set[str], notes: list[QueryNote]) -> None:
    aliases = {"topic": TOPIC_ALIASES, "country": COUNTRY_ALIASES, "lang": LANGUAGE_ALIASES}[key]
    kind = {
        "topic": NoteKind.UNKNOWN_TOPIC,
        "country": NoteKind.UNKNOWN_COUNTRY,
        "lang": NoteKind.UNKNOWN_LANGUAGE,
    }[key]
    for item in value.split(","):
        name = item.strip().lower()
        if not name:
            continue
        code = aliases.get(name)
        if code is None:
            notes.append(QueryNote(kind, item.strip()))
        else:
            into.add(code)


def _since(value: str, now: datetime) -> datetime | None:
    """``7d``-style ages back from ``now``, or an ISO date (midnight UTC)."""
    relative = _RELATIVE.match(value.strip())
    if relative is not None:
        amount, unit = int(relative.group(1)), relative.group(2).lower()
        if amount == 0:
            return None
        return now.astimezone(UTC) - timedelta(days=amount * _UNITS[unit])
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        return None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
