"""Plain-text rendering of search results for ``steppe find`` (the operator's terminal).

The bot renders the same :class:`~storage.search.results.SearchResults` as Telegram HTML
in the user's language; this is the English, terminal side.
"""

from __future__ import annotations

from datetime import UTC
from typing import Final, TextIO

from storage.search.query import MAX_QUERY_CHARS
from storage.search.results import NoteKind, SearchResults, SearchStatus
from storage.search.snippets import Snippet

#: How matched words are marked: brackets for files and pipes, bold on a terminal.
PLAIN_MARKS: Final = ("[", "]")
TERMINAL_MARKS: Final = ("\033[1m", "\033[0m")

_NOTES: Final = {
    NoteKind.UNKNOWN_TOPIC: "ignored topic:{value} (topics: it_hubs, energy, policy, society)",
    NoteKind.UNKNOWN_COUNTRY: "ignored country:{value} (countries: kz, uz, kg, tj, tm, az)",
    NoteKind.UNKNOWN_LANGUAGE: "ignored lang:{value} (languages: en, ru, kk, uz)",
    NoteKind.BAD_SINCE: "ignored since:{value} (use since:7d, since:24h or since:2026-01-01)",
    NoteKind.TOO_MANY_WORDS: "ignored the words after the first 12: {value}",
}


def marks_for(out: TextIO) -> tuple[str, str]:
    """Bold on an interactive terminal, brackets otherwise."""
    isatty = getattr(out, "isatty", None)
    return TERMINAL_MARKS if callable(isatty) and isatty() else PLAIN_MARKS


def render_snippet(snippet: Snippet, marks: tuple[str, str]) -> str:
    """The snippet's text with matched words between ``marks``."""
    start, end = marks
    return "".join(
        f"{start}{fragment.text}{end}" if fragment.match else fragment.text for fragment in snippet
    )


def print_search_results(
    results: SearchResults, out: TextIO, *, marks: tuple[str, str] = PLAIN_MARKS
) -> None:
    """Print ``results``: a numbered list of hits, or why there are none, then notes."""
    for note in results.notes:
        print("note: " + _NOTES[note.kind].format(value=note.value), file=out)
    if results.status is SearchStatus.TOO_LONG:
        print(f"query too long: at most {MAX_QUERY_CHARS} characters", file=out)
        return
    if results.status is SearchStatus.EMPTY:
        print(
            'nothing to search for: give a word, a "phrase" or a filter such as '
            "topic:energy, country:uz, lang:ru, since:7d",
            file=out,
        )
        return
    if results.status is SearchStatus.NOTHING_FOUND:
        print("nothing found", file=out)
        return
    if not results.hits:
        print(f"no more results: {results.total} in all", file=out)
        return
    first = results.offset + 1
    print(f"results {first}-{results.offset + len(results.hits)} of {results.total}", file=out)
    for number, hit in enumerate(results.hits, start=first):
        labels = [hit.outlet, hit.published_at.astimezone(UTC).strftime("%Y-%m-%d")]
        if hit.topics:
            labels.append(", ".join(hit.topics))
        if hit.countries:
            labels.append(", ".join(hit.countries))
        if hit.also:
            labels.append("also: " + ", ".join(hit.also))
        print(f"\n{number}. {render_snippet(hit.title, marks)}", file=out)
        print("   " + " · ".join(labels), file=out)
        if hit.snippet:
            print("   " + render_snippet(hit.snippet, marks), file=out)
        print("   " + hit.url, file=out)
