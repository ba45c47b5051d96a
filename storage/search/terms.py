"""What the full-text index stores for one article: its analysed terms (pure Python).

Both backends index the article's title, and its summary followed by the start of its
full text (:data:`BODY_CHARS`), as analysed by :mod:`storage.search.analyser`.
Analysing is most of the cost of indexing an article and needs no database, so it can
run wherever it is cheapest: :func:`article_terms` gives the terms as a
:class:`~storage.records.SearchTerms`, which the collector computes in its parse worker
processes and hands to the store with the article. This module imports no database
library, so those processes stay light.
"""

from __future__ import annotations

from typing import Final

from storage.records import SearchTerms
from storage.search.analyser import ANALYSER_VERSION, index_terms

#: Characters of the full text indexed after the summary. Feeds that carry whole
#: articles would otherwise make the index several times the size of the archive;
#: the opening paragraphs name what an article is about.
BODY_CHARS: Final = 4000


def title_terms_of(title: str, language: str) -> list[str]:
    """The index terms of a title."""
    return index_terms(title, language)


def body_terms_of(summary: str, content: str, language: str) -> list[str]:
    """The index terms of a summary and the start of the full text."""
    body = f"{summary}\n{content[:BODY_CHARS]}" if content else summary
    return index_terms(body, language)


def article_terms(title: str, summary: str, content: str, language: str) -> SearchTerms:
    """An article's index terms, as the store would compute them from the same text.

    Terms never contain whitespace (the analyser takes them from whitespace-separated
    chunks), so joining them with spaces loses nothing: ``str.split`` gives them back.
    """
    return SearchTerms(
        " ".join(title_terms_of(title, language)),
        " ".join(body_terms_of(summary, content, language)),
        ANALYSER_VERSION,
    )
