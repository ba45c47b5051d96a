"""Searching the archive and keeping its index: what :class:`storage.store.Store` delegates.

``find`` reads as a recipe: refuse an over-long query, parse it, analyse its words,
fetch the candidates from the backend's index, rank them (relevance, recency, one per
story), then read the page's articles and cut their snippets. Every step is the same on
SQLite and PostgreSQL except the candidate query of :mod:`storage.search.index`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Final

from sqlalchemy import Connection, insert, select, update

from storage.models import Article, ArticleCountry, ArticleTopic, Feed, SearchIndexState
from storage.search.analyser import ANALYSER_VERSION
from storage.search.index import IndexText, SearchIndex
from storage.search.matching import TextMatch, text_match
from storage.search.query import is_too_long, parse_query
from storage.search.ranking import RankedStory, rank
from storage.search.results import SearchHit, SearchResults, SearchStatus
from storage.search.snippets import Snippet, highlight, snippet

log = logging.getLogger(__name__)

#: Longest page a caller may ask for.
MAX_PAGE: Final = 50
#: Articles analysed and written per statement while rebuilding the index.
REBUILD_BATCH: Final = 2000
#: Characters of the full text searched for a snippet when the summary has no match.
_SNIPPET_SOURCE_CHARS: Final = 5000


def find(
    connection: Connection,
    index: SearchIndex,
    text: str,
    *,
    now: datetime,
    limit: int,
    offset: int,
) -> SearchResults:
    """One page of results for the user's query ``text`` (see :meth:`Store.find`)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    limit = max(1, min(limit, MAX_PAGE))
    offset = max(0, offset)
    if is_too_long(text):
        return SearchResults(SearchStatus.TOO_LONG, (), 0, offset)
    query = parse_query(text, now=now)
    match = text_match(query)
    if not match.required and not query.has_filters:
        return SearchResults(SearchStatus.EMPTY, (), 0, offset, query.notes)
    if connection.dialect.name == "postgresql":
        # The query text changes what the best plan is (a rare word: the GIN index; a
        # common one: the newest rows first), so never reuse a generic plan.
        connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
    ranked = rank(index.candidates(connection, match, query), now)
    if not ranked:
        return SearchResults(SearchStatus.NOTHING_FOUND, (), 0, offset, query.notes)
    page = ranked[offset : offset + limit]
    hits = _hits(connection, page, match) if page else ()
    return SearchResults(SearchStatus.OK, hits, len(ranked), offset, query.notes)


def _hits(
    connection: Connection, page: Sequence[RankedStory], match: TextMatch
) -> tuple[SearchHit, ...]:
    ids = [story.best.article_id for story in page]
    rows = {
        row.id: row
        for row in connection.execute(
            select(
                Article.id,
                Article.title,
                Article.url,
                Article.summary,
                Article.content,
                Article.language,
                Feed.name,
            )
            .join(Feed, Feed.id == Article.feed_id)
            .where(Article.id.in_(ids))
        )
    }
    topics: dict[int, list[str]] = {}
    for article_id, topic in connection.execute(
        select(ArticleTopic.article_id, ArticleTopic.topic)
        .where(ArticleTopic.article_id.in_(ids))
        .order_by(ArticleTopic.score.desc(), ArticleTopic.topic)
    ):
        topics.setdefault(article_id, []).append(topic)
    countries: dict[int, list[str]] = {}
    for article_id, country in connection.execute(
        select(ArticleCountry.article_id, ArticleCountry.country)
        .where(ArticleCountry.article_id.in_(ids))
        .order_by(ArticleCountry.rank)
    ):
        countries.setdefault(article_id, []).append(country)
    other_feeds = {feed_id for story in page for feed_id in story.other_feed_ids}
    outlets = (
        dict(connection.execute(select(Feed.id, Feed.name).where(Feed.id.in_(other_feeds))).all())
        if other_feeds
        else {}
    )
    terms = match.terms()
    hits: list[SearchHit] = []
    for story in page:
        row = rows.get(story.best.article_id)
        if row is None:  # deleted between the two reads
            continue
        hits.append(
            SearchHit(
                article_id=row.id,
                story_id=story.best.story_id,
                title=highlight(row.title, row.language, terms),
                url=row.url,
                outlet=row.name,
                published_at=story.best.published_at,
                language=row.language,
                topics=tuple(topics.get(row.id, ())),
                countries=tuple(countries.get(row.id, ())),
                snippet=_snippet(row.summary, row.content, row.language, terms),
                also=tuple(outlets[feed_id] for feed_id in story.other_feed_ids),
                score=story.score,
            )
        )
    return tuple(hits)


def _snippet(summary: str, content: str, language: str, terms: frozenset[str]) -> Snippet:
    """Around the matches in the summary; else in the full text; else the summary's start."""
    from_summary = snippet(summary, language, terms)
    if not content or any(fragment.match for fragment in from_summary) or not terms:
        return from_summary if summary else snippet(content, language, terms)
    from_content = snippet(content[:_SNIPPET_SOURCE_CHARS], language, terms)
    if any(fragment.match for fragment in from_content):
        return from_content
    return from_summary if summary else from_content


def index_is_current(connection: Connection) -> bool:
    """True when the index was built by this analyser version."""
    version = connection.scalar(
        select(SearchIndexState.analyser_version).where(SearchIndexState.id == 1)
    )
    return version == ANALYSER_VERSION


def rebuild(connection: Connection, index: SearchIndex, *, now: datetime) -> int:
    """Re-index every article with the current analyser; returns how many.

    Runs in the caller's transaction: readers see the old index until it commits.
    """
    index.clear(connection)
    count = 0
    for batch in _article_batches(connection):
        index.add(connection, batch)
        count += len(batch)
    state = {"analyser_version": ANALYSER_VERSION, "rebuilt_at": now}
    written = connection.execute(
        update(SearchIndexState).where(SearchIndexState.id == 1).values(**state)
    )
    if written.rowcount == 0:  # the row was removed by hand (or a TRUNCATE): put it back
        connection.execute(insert(SearchIndexState).values(id=1, **state))
    log.info("search index rebuilt: %d articles (analyser version %d)", count, ANALYSER_VERSION)
    return count


def _article_batches(connection: Connection) -> Iterator[list[IndexText]]:
    last_id = 0
    while True:
        batch = [
            IndexText(*row)
            for row in connection.execute(
                select(
                    Article.id, Article.title, Article.summary, Article.content, Article.language
                )
                .where(Article.id > last_id)
                .order_by(Article.id)
                .limit(REBUILD_BATCH)
            )
        ]
        if not batch:
            return
        yield batch
        last_id = batch[-1].article_id
