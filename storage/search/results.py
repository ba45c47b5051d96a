"""What a search returns: plain records, shared by the command line and the bot.

:meth:`storage.store.Store.find` takes the user's query text and gives back a
:class:`SearchResults`. Nothing here is user-facing text: a problem with the query is a
:class:`QueryNote` (a kind and the offending value) that the caller words in the user's
language.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from storage.search.snippets import Snippet


class SearchStatus(StrEnum):
    """How a search ended. Every input ends in one of these; none is an error."""

    OK = "ok"
    """At least one result (on this page or an earlier one)."""
    NOTHING_FOUND = "nothing_found"
    """The query was understood; nothing in the archive matches it."""
    EMPTY = "empty"
    """Nothing to search for: no word that can be searched and no filter."""
    TOO_LONG = "too_long"
    """The query is longer than :data:`storage.search.query.MAX_QUERY_CHARS`."""


class NoteKind(StrEnum):
    """A part of the query that was ignored, and why."""

    UNKNOWN_TOPIC = "unknown_topic"
    UNKNOWN_COUNTRY = "unknown_country"
    UNKNOWN_LANGUAGE = "unknown_language"
    BAD_SINCE = "bad_since"
    """``since:`` needs ``7d``/``24h``/``2w``/``3m`` or a date ``2026-01-01``."""
    TOO_MANY_WORDS = "too_many_words"
    """Words beyond :data:`storage.search.query.MAX_TERMS` were ignored."""


@dataclass(frozen=True, slots=True)
class QueryNote:
    """One ignored part of a query: ``kind`` and the text the user typed."""

    kind: NoteKind
    value: str


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One result: a story's best-matching article."""

    article_id: int
    story_id: int
    title: Snippet
    """The whole title, matched words marked."""
    url: str
    outlet: str
    """Name of the article's outlet."""
    published_at: datetime
    language: str
    topics: tuple[str, ...]
    countries: tuple[str, ...]
    snippet: Snippet
    """About 200 characters of the summary (else the full text) around the matches."""
    also: tuple[str, ...]
    """Other outlets whose articles of the same story matched too."""
    score: float
    """Relevance with the recency boost; higher is better. Comparable within one search."""


@dataclass(frozen=True, slots=True)
class SearchResults:
    """One page of a search."""

    status: SearchStatus
    hits: tuple[SearchHit, ...]
    total: int
    """How many stories matched (among the candidates ranked; see ``Store.find``)."""
    offset: int
    notes: tuple[QueryNote, ...] = ()

    @property
    def has_more(self) -> bool:
        """True when a next page exists."""
        return self.offset + len(self.hits) < self.total
