"""Searching the archive and keeping its index: what :class:`storage.store.Store` delegates.

``find`` reads as a recipe: refuse an over-long query, parse it, analyse its words,
fetch the candidates from the backend's index, rank them (relevance, recency, one per
story), then read the page's articles and cut their snippets. Every step is the same on
SQLite and PostgreSQL except the candidate query of :mod:`storage.search.index`.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, Executable, func, insert, select, update

from storage.models import Article, ArticleCountry, ArticleTopic, Feed, SearchIndexState
from storage.search.analyser import ANALYSER_VERSION, widen_memo
from storage.search.index import AnalysedRow, IndexText, SearchIndex
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
#: A rebuild of at least this many articles is analysed in worker processes (starting
#: them takes about a second).
PARALLEL_MIN_ARTICLES: Final = 20_000
#: Entries of the analyser's memos in a rebuild's worker processes
#: (:func:`storage.search.analyser.widen_memo`).
REBUILD_MEMO_LIMIT: Final = 500_000
#: How much of a SQLite database searches read through a memory map (SQLite caps it at
#: its compile-time limit, 2 GB by default; the rest is read as usual).
SQLITE_SEARCH_MMAP_BYTES: Final = 1 << 31
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
    else:
        # A query reads hundreds of rows scattered over the archive: read them in place
        # through a memory map instead of copying each page into SQLite's small page
        # cache (a third off the latency at 1M articles). It stays set on this pooled
        # connection (setting it again is a no-op); processes that never search, such as
        # the collector, never map the file.
        connection.exec_driver_sql(f"PRAGMA mmap_size = {SQLITE_SEARCH_MMAP_BYTES}")
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

    Runs in the caller's transaction (:meth:`SearchIndex.rebuilding`): readers see the
    old index until it commits. On PostgreSQL writers of the index wait for the commit
    (a collection that runs during a rebuild waits for it); SQLite lets no other write
    transaction in anyway. A large archive (:data:`PARALLEL_MIN_ARTICLES`) is analysed
    by worker processes, one per CPU, while this process reads the articles and writes
    the index.
    """
    count = 0
    with index.rebuilding(connection) as write:
        for rows in _analysed_batches(connection, index):
            write(rows)
            count += len(rows)
    state = {"analyser_version": ANALYSER_VERSION, "rebuilt_at": now}
    written = connection.execute(
        update(SearchIndexState).where(SearchIndexState.id == 1).values(**state)
    )
    if written.rowcount == 0:  # the row was removed by hand (or a TRUNCATE): put it back
        connection.execute(insert(SearchIndexState).values(id=1, **state))
    log.info("search index rebuilt: %d articles (analyser version %d)", count, ANALYSER_VERSION)
    return count


def rebuild_workers() -> int:
    """Worker processes a large rebuild uses: the CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _analysed_batches(connection: Connection, index: SearchIndex) -> Iterator[list[AnalysedRow]]:
    """The index rows of every article, in id order, a batch at a time."""
    batches = _article_batches(connection)
    workers = rebuild_workers()
    if workers < 2 or (connection.scalar(select(func.count(Article.id))) or 0) < (
        PARALLEL_MIN_ARTICLES
    ):
        for batch in batches:
            yield index.analyse([IndexText(*row) for row in batch])
        return
    # Analysis is nearly all of a rebuild's CPU time and needs nothing but the text:
    # spawned (not forked: the caller may have threads) processes do it, a few batches
    # ahead, and the results are written in order as they come.
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=widen_memo,
        initargs=(REBUILD_MEMO_LIMIT,),
    )
    pending: deque[tuple[Future[list[AnalysedRow]], list[tuple[Any, ...]]]] = deque()
    try:
        for batch in batches:
            pending.append((pool.submit(_analyse, index.analyse, batch), batch))
            if len(pending) > 2 * workers:
                yield pending[0][0].result()
                pending.popleft()
        while pending:
            yield pending[0][0].result()
            pending.popleft()
    except BrokenProcessPool:
        # A worker could not start or died (e.g. a script that starts a rebuild on
        # import, without an ``if __name__ == "__main__"`` guard): finish here.
        log.warning("search index rebuild: worker processes failed, analysing in-process")
        for _future, batch in pending:
            yield index.analyse([IndexText(*row) for row in batch])
        for batch in batches:
            yield index.analyse([IndexText(*row) for row in batch])
    finally:
        pool.shutdown(cancel_futures=True)


def _analyse(
    analyse: Callable[[Sequence[IndexText]], list[AnalysedRow]], batch: list[tuple[Any, ...]]
) -> list[AnalysedRow]:
    """A worker's task: the index rows of a batch of article rows."""
    return analyse([IndexText(*row) for row in batch])


def _article_batches(connection: Connection) -> Iterator[list[tuple[Any, ...]]]:
    """Every article's indexed fields (those of :class:`IndexText`, with its topics and
    countries), in id order."""
    last_id = 0
    while True:
        rows = connection.execute(
            select(Article.id, Article.title, Article.summary, Article.content, Article.language)
            .where(Article.id > last_id)
            .order_by(Article.id)
            .limit(REBUILD_BATCH)
        ).all()
        if not rows:
            return
        first, last = rows[0][0], rows[-1][0]
        topics = _codes(
            connection,
            select(ArticleTopic.article_id, ArticleTopic.topic)
            .where(ArticleTopic.article_id.between(first, last))
            .order_by(ArticleTopic.article_id, ArticleTopic.topic),
        )
        countries = _codes(
            connection,
            select(ArticleCountry.article_id, ArticleCountry.country)
            .where(ArticleCountry.article_id.between(first, last))
            .order_by(ArticleCountry.article_id, ArticleCountry.rank),
        )
        yield [(*row, topics.get(row[0], ()), countries.get(row[0], ())) for row in rows]
        last_id = last


def _codes(connection: Connection, statement: Executable) -> dict[int, tuple[str, ...]]:
    """``(article id, code)`` rows, in order, as each article's codes."""
    codes: defaultdict[int, list[str]] = defaultdict(list)
    for article_id, code in connection.execute(statement):
        codes[article_id].append(code)
    return {article_id: tuple(found) for article_id, found in codes.items()}
