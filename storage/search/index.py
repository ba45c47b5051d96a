"""The full-text index on each backend: keeping it in step, and finding candidates.

Both backends index the same analysed terms (:mod:`storage.search.analyser`): the
article's title, and its summary followed by the start of its full text
(:data:`storage.search.terms.BODY_CHARS`). The store calls :meth:`SearchIndex.add` and
:meth:`SearchIndex.remove` in the transaction that writes the articles, so the index
never disagrees with the archive it was committed with.

* SQLite: a contentless FTS5 table ``article_fts(title, body)`` whose rowid is the
  article id; ranked with bm25, the title weighing :data:`TITLE_WEIGHT` times the body.
  A contentless table forgets the terms it indexed, and removing a row means giving
  them again, so :meth:`SearchIndex.remove` re-analyses the stored text (the index is
  rebuilt whenever the analyser changes, so that gives the same terms).
* PostgreSQL: ``article_search(article_id, document tsvector)`` with a GIN index, the
  title's terms at weight A; ranked with ``ts_rank`` using the same title weighting.
  The article's topics, countries and language are lexemes of the document too
  (:func:`facets_literal`), so the filters of a text query are intersected in the GIN
  index. Rows go with their article (``ON DELETE CASCADE``). A rebuild fills a new
  table and swaps it in (:meth:`TsvectorIndex.rebuilding`).

Candidates are the newest :data:`CANDIDATES` matching articles (by id, which grows
with collection time), with their relevance; :mod:`storage.search.ranking` then mixes
in recency and groups stories. Bounding the candidates keeps a query for a word in a
third of a million articles as fast as a rare one: the newest matches are read off
the index in id order and only they are scored.
"""

# Every statement is assembled from fixed table and column names and placeholders;
# the match expressions travel as bound parameters. S608 does not apply.
# ruff: noqa: S608

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from itertools import count
from typing import Any, Final

import psycopg
from sqlalchemy import Connection, bindparam, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql.elements import BindParameter, TextClause
from sqlalchemy.sql.selectable import TextualSelect

from storage.models import Article
from storage.search.matching import (
    TextMatch,
    fts5_any,
    fts5_expression,
    tsquery_any,
    tsquery_expression,
)
from storage.search.query import ParsedQuery
from storage.search.terms import body_terms_of, title_terms_of
from storage.types import UTCDateTime

log = logging.getLogger(__name__)

#: Articles scored per query (see the module docstring).
CANDIDATES: Final = 500
#: A match in the title counts this many times a match in the body.
TITLE_WEIGHT: Final = 4.0
#: PostgreSQL: milliseconds the planner's own plan of a query with a phrase may take
#: before the query is read through the GIN index instead (:meth:`TsvectorIndex.candidates`).
#: The plans that win finish well within it (a common phrase: a few ms of walking the
#: newest articles); those that take longer are mostly as fast through the GIN index.
#: At a million articles, 40 against 150 ms took the 150 benchmark phrases' p99 from
#: 266-354 to 161-200 ms and their mean from 24-35 to 20-24 ms (bench/search.py's
#: queries, alternating runs).
_PG_PHRASE_PLAN_MS: Final = 40
#: PostgreSQL's SQLSTATE for a statement cancelled by ``statement_timeout``.
_QUERY_CANCELED: Final = "57014"
#: The weights of a PostgreSQL document's words (title A, body D), without its facets (C).
_PG_WORDS_ONLY: Final = "{a,d}"
#: PostgreSQL keeps at most this many positions of one lexeme, and none above 16383.
_PG_MAX_POSITIONS: Final = 255
_PG_MAX_POSITION: Final = 16383
#: PostgreSQL: memory for building a rebuilt table's indexes (see
#: :meth:`TsvectorIndex.rebuilding`), for this transaction only. Building the GIN index
#: of a million articles is bound by the CPU (PostgreSQL 15 builds it in one process):
#: it took 125, 125 and 130 s with 64 MB, 256 MB and 1 GB, and more memory made the
#: index larger (272, 282 and 316 MB). So the server's default, pinned: the rebuild
#: does not depend on how the server is set.
_PG_REBUILD_MEMORY: Final = "64MB"
#: PostgreSQL: how long the swap of a rebuild waits for the tables before it lets go and
#: tries again (:func:`_lock_for_swap`); below the server's 1 s ``deadlock_timeout``, so
#: that when the swap and a reader wait for each other, the swap is the one that yields.
_PG_SWAP_LOCK_MS: Final = 200
#: PostgreSQL's SQLSTATEs for a lock not granted within ``lock_timeout``, and a deadlock.
_LOCK_NOT_AVAILABLE: Final = "55P03"
_DEADLOCK_DETECTED: Final = "40P01"


@dataclass(frozen=True, slots=True)
class IndexText:
    """The text of one article as the index reads it."""

    article_id: int
    title: str
    summary: str
    content: str
    language: str
    topics: tuple[str, ...] = ()
    """The article's topic codes: PostgreSQL indexes them (and its countries and
    language) for ``topic:``/``country:``/``lang:`` filters (:func:`facets_literal`)."""
    countries: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Candidate:
    """A matching article with its relevance (higher is better; 0 without text)."""

    article_id: int
    story_id: int
    feed_id: int
    published_at: datetime
    relevance: float


def indexed_texts(connection: Connection, article_ids: Sequence[int]) -> list[IndexText]:
    """The stored text of the given articles, as the index read it (unknown ids: none)."""
    return [
        IndexText(*row)
        for row in connection.execute(
            select(Article.id, Article.title, Article.summary, Article.content, Article.language)
            .where(Article.id.in_(list(article_ids)))
            .order_by(Article.id)
        )
    ]


def title_terms(item: IndexText) -> list[str]:
    """The index terms of the title."""
    return title_terms_of(item.title, item.language)


def body_terms(item: IndexText) -> list[str]:
    """The index terms of the summary and the start of the full text."""
    return body_terms_of(item.summary, item.content, item.language)


#: What a backend writes for one article: its analysed terms, ready for the driver.
AnalysedRow = tuple[Any, ...]
#: Takes a batch of analysed rows during a rebuild (:meth:`SearchIndex.rebuilding`).
RowWriter = Callable[[Sequence[AnalysedRow]], None]


def fts5_rows(items: Sequence[IndexText]) -> list[AnalysedRow]:
    """SQLite's rows for ``items``: ``(rowid, title terms, body terms)``."""
    return [_fts5_row(item) for item in items]


def tsvector_rows(items: Sequence[IndexText]) -> list[AnalysedRow]:
    """PostgreSQL's rows for ``items``: ``(article id, tsvector literal)``."""
    return [(item.article_id, tsvector_literal(item)) for item in items]


class SearchIndex:
    """One backend's index. Methods run on the caller's connection and transaction.

    Indexing is two steps: :attr:`analyse` (pure Python, module-level, so a rebuild can
    run it in worker processes) and :meth:`write` (the database).
    """

    analyse: staticmethod[[Sequence[IndexText]], list[AnalysedRow]]
    """The rows :meth:`write` takes for some articles (:func:`fts5_rows`,
    :func:`tsvector_rows`)."""

    def write(self, connection: Connection, rows: Sequence[AnalysedRow]) -> None:
        """Index analysed rows (new articles, or the new text of updated ones)."""
        raise NotImplementedError

    def add(self, connection: Connection, items: Sequence[IndexText]) -> None:
        """Index ``items`` (new articles, or the new text of updated ones)."""
        if items:
            self.write(connection, self.analyse(items))

    def remove(self, connection: Connection, items: Sequence[IndexText]) -> None:
        """Forget ``items``, given with the text they were indexed with."""
        raise NotImplementedError

    def lock_for_writing(self, connection: Connection) -> None:
        """Wait while a rebuild (:meth:`rebuilding`) holds the index.

        A transaction that will change the index (storing, updating, reclassifying or
        deleting articles) calls this first, before it reads or writes the articles.
        Nothing to do unless the backend needs it.
        """

    def rebuilding(self, connection: Connection) -> AbstractContextManager[RowWriter]:
        """Replace the whole index, in the caller's transaction.

        The block hands every article's analysed rows to the function it is given, a
        batch at a time; when the block ends, those rows are the index. If the block
        raises, the caller must roll back. Readers see the old index until the
        transaction commits.
        """
        raise NotImplementedError

    def replace(self, connection: Connection, items: Sequence[IndexText]) -> None:
        """Re-index articles whose text changes to ``items``.

        Call it before the articles' rows are updated: a backend that must forget the
        old terms reads them from the rows. Here (PostgreSQL) :meth:`add` overwrites.
        """
        self.add(connection, items)

    def candidates(
        self,
        connection: Connection,
        match: TextMatch,
        query: ParsedQuery,
        *,
        limit: int = CANDIDATES,
    ) -> list[Candidate]:
        """The newest ``limit`` articles matching ``match`` and ``query``'s filters.

        Without required words, the newest articles matching the filters (and none
        of the excluded words), with relevance 0. The caller ensures there is at least
        a required word or a filter.
        """
        return self._select(connection, match, query, limit, self._text_sql)

    def _select(
        self,
        connection: Connection,
        match: TextMatch,
        query: ParsedQuery,
        limit: int,
        text_sql: Callable[[list[str]], str],
    ) -> list[Candidate]:
        """:meth:`candidates`, the text query's statement written by ``text_sql``."""
        params: dict[str, Any] = {"limit": limit}
        if match.required:
            sql = text_sql(self._text_filter_conditions(query, params))
            params["match"] = self._expression(match, query)
            params.update(self._rank_params(match))
        else:
            conditions = _filter_conditions(query, params)
            if match.excluded:
                conditions.append(self._exclusion_condition())
                params["excluded"] = self._any(match)
            sql = _FILTER_ONLY.format(where=" AND ".join(conditions) or "1 = 1")
        statement = _typed(text(sql), params)
        return [
            Candidate(int(row[0]), int(row[1]), int(row[2]), row[3], float(row[4] or 0.0))
            for row in connection.execute(statement, params)
        ]

    def _text_sql(self, conditions: list[str]) -> str:
        raise NotImplementedError

    def _text_filter_conditions(self, query: ParsedQuery, params: dict[str, Any]) -> list[str]:
        """The SQL conditions of ``query``'s filters in a text query."""
        return _filter_conditions(query, params)

    def _expression(self, match: TextMatch, query: ParsedQuery) -> str:
        raise NotImplementedError

    def set_facets(self, connection: Connection, items: Sequence[IndexText]) -> None:
        """The articles' topics or countries changed to those of ``items`` (their text
        did not). Nothing to do unless the backend indexes them."""

    def _rank_params(self, match: TextMatch) -> dict[str, str]:
        return {}

    def _any(self, match: TextMatch) -> str:
        raise NotImplementedError

    def _exclusion_condition(self) -> str:
        raise NotImplementedError


class Fts5Index(SearchIndex):
    """SQLite FTS5 (see the module docstring)."""

    _INSERT = "INSERT INTO article_fts (rowid, title, body) VALUES (?, ?, ?)"
    _DELETE = "INSERT INTO article_fts (article_fts, rowid, title, body) VALUES ('delete', ?, ?, ?)"

    analyse = staticmethod(fts5_rows)

    def write(self, connection: Connection, rows: Sequence[AnalysedRow]) -> None:
        if rows:
            connection.exec_driver_sql(self._INSERT, list(rows))

    def remove(self, connection: Connection, items: Sequence[IndexText]) -> None:
        if items:
            connection.exec_driver_sql(self._DELETE, [_fts5_row(item) for item in items])

    @contextmanager
    def rebuilding(self, connection: Connection) -> Iterator[RowWriter]:
        # SQLite lets one write transaction in at a time: nobody writes meanwhile.
        connection.exec_driver_sql("INSERT INTO article_fts (article_fts) VALUES ('delete-all')")
        yield lambda rows: self.write(connection, rows)

    def replace(self, connection: Connection, items: Sequence[IndexText]) -> None:
        # A contentless table forgets a row only when given the terms it indexed.
        self.remove(connection, indexed_texts(connection, [item.article_id for item in items]))
        self.add(connection, items)

    def _text_filter_conditions(self, query: ParsedQuery, params: dict[str, Any]) -> list[str]:
        # Topics and countries tested on the index's rowid, not a.id: SQLite then tests
        # each match before it reads the match's article row, not after.
        return _filter_conditions(query, params, article_id="article_fts.rowid")

    def _text_sql(self, conditions: list[str]) -> str:
        where = "".join(f" AND {condition}" for condition in conditions)
        # FTS5 hands rows out in descending rowid order itself, so the LIMIT stops
        # the scan early and bm25 is computed for the returned rows only.
        return (
            "SELECT a.id, a.story_id, a.feed_id, a.published_at,"
            f" -bm25(article_fts, {TITLE_WEIGHT}, 1.0)"
            " FROM article_fts JOIN articles AS a ON a.id = article_fts.rowid"
            f" WHERE article_fts MATCH :match{where}"
            " ORDER BY article_fts.rowid DESC LIMIT :limit"
        )

    def _expression(self, match: TextMatch, query: ParsedQuery) -> str:
        return fts5_expression(match.required, match.excluded)

    def _any(self, match: TextMatch) -> str:
        return fts5_any(match.excluded)

    def _exclusion_condition(self) -> str:
        return "a.id NOT IN (SELECT rowid FROM article_fts WHERE article_fts MATCH :excluded)"


class TsvectorIndex(SearchIndex):
    """PostgreSQL ``tsvector`` with a GIN index (see the module docstring)."""

    _UPSERT = (
        "INSERT INTO article_search (article_id, document)"
        " SELECT * FROM unnest(%s::integer[], %s::tsvector[])"
        " ON CONFLICT (article_id) DO UPDATE SET document = EXCLUDED.document"
    )

    analyse = staticmethod(tsvector_rows)

    def write(self, connection: Connection, rows: Sequence[AnalysedRow]) -> None:
        if rows:
            connection.exec_driver_sql(
                self._UPSERT, ([row[0] for row in rows], [row[1] for row in rows])
            )

    def remove(self, connection: Connection, items: Sequence[IndexText]) -> None:
        if items:
            connection.exec_driver_sql(
                "DELETE FROM article_search WHERE article_id = ANY(%s)",
                ([item.article_id for item in items],),
            )

    def lock_for_writing(self, connection: Connection) -> None:
        # Taking the lock first means a writer waits for a rebuild holding nothing the
        # rebuild needs: had it stored articles first, the rebuild's foreign key and
        # swap, which lock the articles, would wait for it while it waits for them.
        connection.exec_driver_sql("LOCK TABLE article_search IN ROW EXCLUSIVE MODE")

    @contextmanager
    def rebuilding(self, connection: Connection) -> Iterator[RowWriter]:
        """As :meth:`SearchIndex.rebuilding`: fills a new table and swaps it in.

        The new table has no index while it is filled (``COPY``), then gets its keys
        and its GIN index built in one pass each, and replaces ``article_search`` under
        the names migration 0002 gives (:data:`_PG_SWAP`). That is several times faster
        than upserting every row into the live GIN index, and leaves no dead rows
        behind: the old table's files go at commit.

        ``article_search`` is locked first (``SHARE ROW EXCLUSIVE``): searches go on
        reading the old table, but writers of the index wait until the rebuild commits
        (so that nothing they write is lost with the old table), and so does a
        collection that runs meanwhile (:meth:`lock_for_writing`); so does a second
        rebuild, which then builds from what the first committed. The swap locks
        ``articles`` and ``article_search`` exclusively (dropping a table drops its
        foreign key's triggers there) until the commit, a few milliseconds; it never
        keeps a reader waiting longer than :data:`_PG_SWAP_LOCK_MS` at a time
        (:func:`_lock_for_swap`).
        """
        connection.exec_driver_sql("LOCK TABLE article_search IN SHARE ROW EXCLUSIVE MODE")
        # A crashed rebuild's table went with its transaction; this is only a guard.
        connection.exec_driver_sql("DROP TABLE IF EXISTS article_search_new")
        connection.exec_driver_sql(
            "CREATE TABLE article_search_new"
            " (article_id integer NOT NULL, document tsvector NOT NULL)"
        )
        _carry_over_access(connection)
        raw = connection.connection.driver_connection
        if not isinstance(raw, psycopg.Connection):  # pragma: no cover - the only driver
            raise TypeError(f"PostgreSQL rebuild needs psycopg 3, not {type(raw)}")

        def copy(rows: Sequence[AnalysedRow]) -> None:
            # FREEZE: the table is new in this transaction, so its rows can be written
            # frozen and all-visible, sparing a later vacuum from rewriting them.
            with raw.cursor() as cursor, cursor.copy(_PG_COPY) as rows_in:
                for row in rows:
                    rows_in.write_row(row)

        yield copy
        for statement in _PG_BUILD:
            connection.exec_driver_sql(statement)
        _lock_for_swap(connection)
        for statement in _PG_SWAP:
            connection.exec_driver_sql(statement)

    def candidates(
        self,
        connection: Connection,
        match: TextMatch,
        query: ParsedQuery,
        *,
        limit: int = CANDIDATES,
    ) -> list[Candidate]:
        """As :meth:`SearchIndex.candidates`, with a time budget for the planner's plan
        of a query with a phrase.

        For "the newest matches" the planner chooses between the GIN index (every match,
        then sorted) and walking the newest articles until enough match. For a phrase it
        estimates how many articles hold its words, not the phrase, so for a phrase of
        two common words that rarely stand together it walks most of the archive: one
        such query took 6.5 s at a million articles. Given :data:`_PG_PHRASE_PLAN_MS`,
        such a query is cancelled and read through the GIN index, which costs at most a
        few hundred milliseconds; the phrases the walk serves well finish within it.
        """
        if not any(len(way) > 1 for item in match.required for way in item):
            return self._select(connection, match, query, limit, self._text_sql)
        try:
            with connection.begin_nested():
                connection.exec_driver_sql(f"SET LOCAL statement_timeout = {_PG_PHRASE_PLAN_MS}")
                found = self._select(connection, match, query, limit, self._text_sql)
                connection.exec_driver_sql("SET LOCAL statement_timeout TO DEFAULT")
                return found
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != _QUERY_CANCELED:
                raise
        # The savepoint's rollback also undid its SET LOCAL.
        return self._select(connection, match, query, limit, self._text_sql_through_gin)

    def _text_sql(self, conditions: list[str]) -> str:
        return self._statement(conditions, order="s.article_id")

    def _text_sql_through_gin(self, conditions: list[str]) -> str:
        # No index gives "article_id + 0" in order, so the planner cannot walk the
        # primary key: the matches come from the GIN index and are sorted.
        return self._statement(conditions, order="s.article_id + 0")

    def _statement(self, conditions: list[str], *, order: str) -> str:
        where = "".join(f" AND {condition}" for condition in conditions)
        # The newest ids first, and only then their documents and articles: sorting
        # whole documents spills to disk, and joining every match before the LIMIT
        # reads thousands of article rows a common word does not need.
        join = " JOIN articles AS a ON a.id = s.article_id" if conditions else ""
        newest = (
            f"SELECT s.article_id FROM article_search AS s{join}"
            f" WHERE s.document @@ CAST(:match AS tsquery){where}"
            f" ORDER BY {order} DESC LIMIT :limit"
        )
        # ts_rank weights are {D, C, B, A}, each at most 1: the title is A, the body D.
        return (
            "SELECT a.id, a.story_id, a.feed_id, a.published_at,"
            f" ts_rank('{{{1 / TITLE_WEIGHT}, 0, 0, 1}}', d.document, CAST(:rank AS tsquery))"
            f" FROM ({newest}) AS m"
            " JOIN article_search AS d ON d.article_id = m.article_id"
            " JOIN articles AS a ON a.id = m.article_id"
        )

    def _text_filter_conditions(self, query: ParsedQuery, params: dict[str, Any]) -> list[str]:
        # Topics, countries and language are in the documents (facets_literal) and go
        # into the tsquery: the GIN index intersects them with the words, instead of
        # each match's article being looked up and checked.
        if query.since is None:
            return []
        params["since"] = query.since
        return ["a.published_at >= :since"]

    def _expression(self, match: TextMatch, query: ParsedQuery) -> str:
        words = tsquery_expression(match.required, match.excluded)
        facets = [
            " | ".join(_pg_quoted(facet_lexeme(kind, code)) for code in sorted(codes))
            for kind, codes in (
                ("topic", query.topics),
                ("country", query.countries),
                ("lang", query.languages),
            )
            if codes
        ]
        return " & ".join([words, *(f"({part})" for part in facets)])

    def set_facets(self, connection: Connection, items: Sequence[IndexText]) -> None:
        if items:
            connection.exec_driver_sql(
                "UPDATE article_search AS s"
                f" SET document = ts_filter(s.document, '{_PG_WORDS_ONLY}') || f.facets"
                " FROM unnest(%s::integer[], %s::tsvector[]) AS f(article_id, facets)"
                " WHERE s.article_id = f.article_id",
                (
                    [item.article_id for item in items],
                    [facets_literal(item.language, item.topics, item.countries) for item in items],
                ),
            )

    def _rank_params(self, match: TextMatch) -> dict[str, str]:
        # ts_rank scores every article alike when the query has a negated part, so
        # rank by the required words alone (the WHERE clause applies the exclusions).
        return {"rank": tsquery_expression(match.required)}

    def _any(self, match: TextMatch) -> str:
        return tsquery_any(match.excluded)

    def _exclusion_condition(self) -> str:
        return (
            "NOT EXISTS (SELECT 1 FROM article_search AS s WHERE s.article_id = a.id"
            " AND s.document @@ CAST(:excluded AS tsquery))"
        )


_PG_COPY: Final = "COPY article_search_new (article_id, document) FROM STDIN (FREEZE)"
#: The end of :meth:`TsvectorIndex.rebuilding`: the new table gets migration 0002's
#: keys and index (this), then takes the old one's place (:data:`_PG_SWAP`).
_PG_BUILD: Final = (
    f"SET LOCAL maintenance_work_mem = '{_PG_REBUILD_MEMORY}'",
    "ALTER TABLE article_search_new ADD CONSTRAINT pk_article_search_new PRIMARY KEY (article_id)",
    "ALTER TABLE article_search_new"
    " ADD CONSTRAINT fk_article_search_article_id_articles FOREIGN KEY (article_id)"
    " REFERENCES articles (id) ON DELETE CASCADE",
    "CREATE INDEX ix_article_search_document_new ON article_search_new USING gin (document)",
    "ANALYZE article_search_new",
)
#: The swap, once :func:`_lock_for_swap` holds both tables. Index names are unique in a
#: schema, so the new ones are renamed once the old table is gone.
_PG_SWAP: Final = (
    "DROP TABLE article_search",
    "ALTER TABLE article_search_new RENAME TO article_search",
    "ALTER TABLE article_search RENAME CONSTRAINT pk_article_search_new TO pk_article_search",
    "ALTER INDEX ix_article_search_document_new RENAME TO ix_article_search_document",
)


def _lock_for_swap(connection: Connection) -> None:
    """Take ``articles`` and ``article_search`` exclusively for the swap, yielding to
    readers: each try waits at most :data:`_PG_SWAP_LOCK_MS`, then lets go of what it
    took and tries again, as long as it takes.

    A reader locks the two tables in the order of its query, and a transaction can
    hold one while it asks for the other: the swap could hold one and wait for the
    other, and PostgreSQL would break the deadlock by aborting either the search or the
    minutes-long rebuild. Giving up within the timeout settles it for the reader. It
    also means a long reader (a ``pg_dump``) delays the swap, not every search queued
    behind the swap's request.
    """
    for attempt in count(1):
        try:
            with connection.begin_nested():  # its rollback lets go of what it locked
                connection.exec_driver_sql(f"SET LOCAL lock_timeout = {_PG_SWAP_LOCK_MS}")
                connection.exec_driver_sql(
                    "LOCK TABLE articles, article_search IN ACCESS EXCLUSIVE MODE"
                )
                connection.exec_driver_sql("SET LOCAL lock_timeout TO DEFAULT")
            return
        except OperationalError as exc:
            code = getattr(exc.orig, "sqlstate", None)
            if code not in (_LOCK_NOT_AVAILABLE, _DEADLOCK_DETECTED):
                raise
            if attempt == 1:
                log.info("search index rebuild: waiting for readers to let the swap in")


def _carry_over_access(connection: Connection) -> None:
    """Give ``article_search_new`` the owner and the table privileges ``article_search``
    has, so that a role an operator granted access to (a read-only reporting role, a
    second service) keeps it after a rebuild.

    The server writes the statements from its catalogue (``aclexplode``), quoting the
    role names itself (``quote_ident``, ``%I``); Python only runs them. Column
    privileges are not carried over.
    """
    statements = connection.exec_driver_sql(_PG_ACCESS_STATEMENTS).scalars().all()
    for statement in statements:
        # A role's name may hold "%", which the driver would read as a placeholder.
        connection.exec_driver_sql(statement.replace("%", "%%"))


#: The ``ALTER TABLE ... OWNER`` (when the owner is another role than the rebuild's)
#: and the ``GRANT`` statements that give ``article_search_new`` the access
#: ``article_search`` has (grantee 0 is PUBLIC). A table whose privileges were never
#: changed has no ACL: the owner's defaults, which the new table has too.
_PG_ACCESS_STATEMENTS: Final = """
SELECT statement FROM (
    SELECT 0, format('ALTER TABLE article_search_new OWNER TO %%I', pg_get_userbyid(c.relowner))
    FROM pg_class AS c
    WHERE c.oid = 'article_search'::regclass AND c.relowner <> current_user::regrole
    UNION ALL
    SELECT 1, format(
        'GRANT %%s ON article_search_new TO %%s%%s',
        acl.privilege_type,
        CASE WHEN acl.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(acl.grantee)) END,
        CASE WHEN acl.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END
    )
    FROM pg_class AS c, aclexplode(c.relacl) AS acl
    WHERE c.oid = 'article_search'::regclass AND acl.grantee <> c.relowner
) AS access (step, statement)
ORDER BY step
"""


def search_index_for(dialect_name: str) -> SearchIndex:
    """The index implementation of a backend (``sqlite`` or ``postgresql``)."""
    return TsvectorIndex() if dialect_name == "postgresql" else Fts5Index()


def tsvector_literal(item: IndexText) -> str:
    """``item``'s terms as a ``tsvector`` literal: title terms at weight A, then the body.

    The body starts a position further than the title's end, so a phrase never spans
    the two.
    """
    title = title_terms(item)
    body = body_terms(item)
    facets = facets_literal(item.language, item.topics, item.countries)
    if len(title) + len(body) <= _PG_MAX_POSITIONS:
        words = _occurrences_literal(title, body)
    else:
        words = _grouped_literal(title, body)
    return f"{words} {facets}".strip()


def _occurrences_literal(title: Sequence[str], body: Sequence[str]) -> str:
    """Every occurrence of a term as an entry of its own (``'a':1A 'b':2 'a':4``).

    PostgreSQL merges a lexeme's entries when it reads the literal: as long as no lexeme
    can have more than :data:`_PG_MAX_POSITIONS` positions and none passes
    :data:`_PG_MAX_POSITION` (the caller's test), that is the document
    :func:`_grouped_literal` writes, at less than half the cost: no grouping here.
    """
    start = len(title) + 2
    return " ".join(
        [f"'{term}':{position}A" for position, term in enumerate(title, start=1)]
        + [f"'{term}':{position}" for position, term in enumerate(body, start=start)]
    )


def _grouped_literal(title: Sequence[str], body: Sequence[str]) -> str:
    """Each term once with its positions, within PostgreSQL's limits: at most
    :data:`_PG_MAX_POSITIONS` positions, none above :data:`_PG_MAX_POSITION`."""
    positions: defaultdict[str, list[str]] = defaultdict(list)
    for position, term in enumerate(title, start=1):
        positions[term].append(f"{position}A")
    for position, term in enumerate(body, start=len(title) + 2):
        positions[term].append(str(min(position, _PG_MAX_POSITION)))
    return " ".join(
        f"'{term}':{','.join(places[:_PG_MAX_POSITIONS])}" for term, places in positions.items()
    )


def facet_lexeme(kind: str, code: str) -> str:
    """The lexeme of a filter value (``topic``/``country``/``lang``, a code): a colon,
    which no analysed term holds, keeps it apart from the words."""
    return f"{kind}:{code}"


def facets_literal(language: str, topics: Sequence[str], countries: Sequence[str]) -> str:
    """An article's filter values as ``tsvector`` lexemes at weight C, which ``ts_rank``
    here weighs 0 and which :data:`_PG_WORDS_ONLY` strips. Their position is the last
    one, past any word's, so no phrase can reach them."""
    lexemes = [facet_lexeme("lang", language)]
    lexemes += [facet_lexeme("topic", code) for code in topics]
    lexemes += [facet_lexeme("country", code) for code in countries]
    place = f"{_PG_MAX_POSITION}C"
    return " ".join(f"{_pg_quoted(lexeme)}:{place}" for lexeme in dict.fromkeys(lexemes))


def _pg_quoted(lexeme: str) -> str:
    """A lexeme quoted for a ``tsvector`` or ``tsquery`` literal."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def _fts5_row(item: IndexText) -> tuple[int, str, str]:
    # FTS5 splits its columns on whitespace (terms never hold any): the analysed
    # terms, space-separated, are the column text.
    return item.article_id, " ".join(title_terms(item)), " ".join(body_terms(item))


_FILTER_ONLY: Final = (
    "SELECT a.id, a.story_id, a.feed_id, a.published_at, 0.0 FROM articles AS a"
    " WHERE {where} ORDER BY a.published_at DESC, a.id DESC LIMIT :limit"
)


def _filter_conditions(
    query: ParsedQuery, params: dict[str, Any], *, article_id: str = "a.id"
) -> list[str]:
    """SQL conditions of ``query``'s filters on ``articles AS a``; the topic and country
    tests name the article by ``article_id`` (another column equal to ``a.id``)."""
    conditions: list[str] = []
    if query.languages:
        conditions.append("a.language IN :languages")
        params["languages"] = sorted(query.languages)
    if query.since is not None:
        conditions.append("a.published_at >= :since")
        params["since"] = query.since
    if query.topics:
        conditions.append(
            "EXISTS (SELECT 1 FROM article_topics AS t"
            f" WHERE t.article_id = {article_id} AND t.topic IN :topics)"
        )
        params["topics"] = sorted(query.topics)
    if query.countries:
        conditions.append(
            "EXISTS (SELECT 1 FROM article_countries AS c"
            f" WHERE c.article_id = {article_id} AND c.country IN :countries)"
        )
        params["countries"] = sorted(query.countries)
    return conditions


def _typed(statement: TextClause, params: dict[str, Any]) -> TextualSelect:
    """Bind the list parameters the statement uses as expanding and the times through
    the UTC type."""
    binds: list[BindParameter[Any]] = [
        bindparam(name, expanding=True)
        for name in ("languages", "topics", "countries")
        if name in params
    ]
    if "since" in params:
        binds.append(bindparam("since", type_=UTCDateTime()))
    # The 4th column is read back through the UTC type: timezone-aware on SQLite too.
    return statement.bindparams(*binds).columns(published_at=UTCDateTime())
