"""A parsed query turned into index terms, and written in each backend's match syntax.

:func:`text_match` reads the user's words with :func:`storage.search.analyser.query_word`
(every plausible language of each word), so the query meets the index on the same
terms. :func:`fts5_expression` and :func:`tsquery_expression` render that for SQLite
FTS5 and for PostgreSQL. Both are built only from analyser terms (letters and digits),
each one quoted, so nothing the user types can reach either query language as syntax.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from storage.search.analyser import query_word
from storage.search.query import ParsedQuery

#: One position of a phrase: any of these terms.
Position = frozenset[str]
#: Consecutive positions.
Way = tuple[Position, ...]
#: One word or phrase of the query: it matches when any of its ways does.
Alternatives = tuple[Way, ...]

#: FTS5 has no "any of" inside a phrase, so a phrase whose positions have several
#: readings becomes an OR of phrases; beyond this many, only the first readings are kept.
MAX_PHRASE_READINGS: Final = 16


@dataclass(frozen=True, slots=True)
class TextMatch:
    """The text part of a query: every ``required`` item matches, no ``excluded`` one."""

    required: tuple[Alternatives, ...]
    excluded: tuple[Alternatives, ...]

    def terms(self) -> frozenset[str]:
        """Every term of the required items: the words to mark in snippets."""
        return frozenset(
            term
            for alternatives in self.required
            for way in alternatives
            for position in way
            for term in position
        )


def text_match(query: ParsedQuery) -> TextMatch:
    """The analysed form of ``query``'s words and phrases.

    A word the analyser drops (a stopword, punctuation only) drops out of its phrase;
    a phrase with nothing left is left out.
    """
    return TextMatch(
        required=tuple(_phrases(query.required)),
        excluded=tuple(_phrases(query.excluded)),
    )


def _phrases(phrases: Iterable[tuple[str, ...]]) -> Iterable[Alternatives]:
    for words in phrases:
        alternatives = _phrase(words)
        if alternatives:
            yield alternatives


def _phrase(words: tuple[str, ...]) -> Alternatives:
    readings = [query_word(word) for word in words]
    readings = [ways for ways in readings if ways]
    if len(readings) == 1:
        return readings[0]
    # In a phrase, each word is read as its parts (a compound's joined form is an
    # extra term at the end of the indexed text, never next to its neighbours).
    return (tuple(position for ways in readings for position in ways[0]),) if readings else ()


def _quote_fts5(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _fts5_way(way: Way) -> str:
    if len(way) == 1:
        return _any(_quote_fts5(term) for term in sorted(way[0]))
    readings = itertools.islice(
        itertools.product(*(sorted(position) for position in way)), MAX_PHRASE_READINGS
    )
    return _any('"' + " ".join(reading).replace('"', '""') + '"' for reading in readings)


def _any(parts: Iterable[str], operator: str = " OR ") -> str:
    listed = list(parts)
    return listed[0] if len(listed) == 1 else "(" + operator.join(listed) + ")"


def _fts5_item(alternatives: Alternatives) -> str:
    return _any(_fts5_way(way) for way in alternatives)


def fts5_expression(items: Iterable[Alternatives], excluded: Iterable[Alternatives] = ()) -> str:
    """An FTS5 MATCH expression: all ``items``, none of ``excluded``.

    ``items`` must not be empty (FTS5 cannot start with NOT).
    """
    required = [_fts5_item(item) for item in items]
    if not required:
        raise ValueError("an FTS5 expression needs at least one required item")
    expression = " AND ".join(required)
    for item in excluded:
        expression = f"({expression}) NOT {_fts5_item(item)}"
    return expression


def fts5_any(items: Iterable[Alternatives]) -> str:
    """An FTS5 MATCH expression matching any of ``items``."""
    return _any(_fts5_item(item) for item in items)


def _quote_tsquery(term: str) -> str:
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def _tsquery_item(alternatives: Alternatives) -> str:
    ways = (
        " <-> ".join(
            _any((_quote_tsquery(term) for term in sorted(position)), " | ") for position in way
        )
        for way in alternatives
    )
    return _any((f"({way})" if "<->" in way else way for way in ways), " | ")


def tsquery_expression(items: Iterable[Alternatives], excluded: Iterable[Alternatives] = ()) -> str:
    """A ``tsquery`` literal: all ``items``, none of ``excluded``."""
    parts = [_tsquery_item(item) for item in items]
    if not parts:
        raise ValueError("a tsquery needs at least one required item")
    parts.extend(f"!{_parenthesised(_tsquery_item(item))}" for item in excluded)
    return " & ".join(parts)


def tsquery_any(items: Iterable[Alternatives]) -> str:
    """A ``tsquery`` literal matching any of ``items``."""
    return " | ".join(_parenthesised(_tsquery_item(item)) for item in items)


def _parenthesised(expression: str) -> str:
    return f"({expression})"
