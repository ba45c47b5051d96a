"""What the full-text index stores for one article: its analysed terms (pure Python).

Both backends index the article's title, and its summary followed by the start of its
full text (:data:`BODY_CHARS`), as analysed by :mod:`storage.search.analyser`. This
module imports no database library, so a rebuild's worker processes stay light.
"""

from __future__ import annotations

from typing import Final

from storage.search.analyser import index_terms

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
