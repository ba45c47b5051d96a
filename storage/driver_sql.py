"""Driver-level SQL for the collector's hot path: looking up and saving articles.

The collector calls :meth:`storage.store.Store.known_articles` and
:meth:`~storage.store.Store.save_articles` once per feed, for thousands of rows a
minute. Through SQLAlchemy's Core or ORM every row pays for parameter processing
(``construct_params``, one bind processor call per value, JSON encoding) that costs
more than the database's own work. Here the statements are rendered once per dialect
from the table definitions of :mod:`storage.models` and run with
``Connection.exec_driver_sql`` on plain tuples (``executemany`` on SQLite, whose C
code binds every row; one ``INSERT ... SELECT FROM unnest(arrays)`` per table on
PostgreSQL, see :class:`InsertSql`). Values that need converting (timestamps, the JSON
evidence) are converted by the columns' own SQLAlchemy bind processors, so what is
stored is exactly what the ORM would store.

New rows get their ids before they are inserted (:meth:`DriverSql.reserve`), so a
story can be created with its article's publication time and topics and countries
can be inserted without waiting for ``RETURNING``: that removes a statement and the
id-matching step per save.
"""

# Every statement here is assembled from table and column names of storage.models and
# from placeholders; no value is ever formatted into SQL, so S608 does not apply.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Dialect, Table
from sqlalchemy.types import TypeEngine

from storage.models import metadata

ARTICLES: Table = metadata.tables["articles"]
STORIES: Table = metadata.tables["stories"]
ARTICLE_TOPICS: Table = metadata.tables["article_topics"]
ARTICLE_COUNTRIES: Table = metadata.tables["article_countries"]
FEEDS: Table = metadata.tables["feeds"]

#: Columns of an inserted article, in the order of the tuples built by the store.
ARTICLE_INSERT_COLUMNS: tuple[str, ...] = (
    "id",
    "feed_id",
    "story_id",
    "guid",
    "url",
    "title",
    "summary",
    "content",
    "language",
    "published_at",
    "content_hash",
    "evidence",
    "first_seen_at",
    "updated_at",
)

#: Columns an update replaces (then ``id`` in the WHERE clause), in tuple order.
ARTICLE_UPDATE_COLUMNS: tuple[str, ...] = (
    "url",
    "title",
    "summary",
    "content",
    "language",
    "published_at",
    "content_hash",
    "evidence",
    "updated_at",
)

#: Columns returned by :meth:`DriverSql.known_articles`, in the order of
#: :class:`storage.records.KnownArticle`'s fields.
KNOWN_COLUMNS: tuple[str, ...] = ("id", "feed_id", "guid", "url", "content_hash")

Row = tuple[Any, ...]

#: Longest ``IN (...)`` list sent in one statement: far below SQLite's bound-parameter
#: limit, and long lists gain nothing either.
IN_CHUNK = 500


class InsertSql:
    """An ``INSERT`` of whole rows into some columns of one table.

    ``one_row`` inserts one row (SQLite runs it with ``executemany``). ``unnest``
    (PostgreSQL only) inserts any number of rows given as one array per column: the
    statement text never changes, so psycopg prepares it once, and the server parses,
    plans and binds once per batch instead of once per row (measured here: about
    twice as fast as a pipelined ``executemany`` or a multi-row ``VALUES``). The
    arrays travel in binary (``%b``): psycopg's text format quotes every element of
    an array with a regular expression in Python, which cost more than the insert.
    """

    def __init__(self, table: Table, columns: Sequence[str], dialect: Dialect) -> None:
        names = ", ".join(_column(table, name) for name in columns)
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self.one_row = f"INSERT INTO {table.name} ({names}) VALUES {_marks(mark, len(columns))}"
        arrays = ", ".join(
            f"%b::{table.c[name].type.compile(dialect=dialect)}[]" for name in columns
        )
        self.unnest = f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({arrays})"


class DriverSql:
    """The hot-path statements and value converters for one SQL dialect.

    Supports the two backends of :mod:`storage.engine`: SQLite (``qmark``
    placeholders) and PostgreSQL through psycopg 3 (``pyformat``, used as ``%s``).
    """

    def __init__(self, dialect: Dialect) -> None:
        if dialect.paramstyle == "qmark":
            self._mark = "?"
        elif dialect.paramstyle in ("format", "pyformat"):
            self._mark = "%s"
        else:  # pragma: no cover - storage.engine only builds the two engines above
            raise ValueError(f"unsupported parameter style {dialect.paramstyle!r}")
        self._postgresql = dialect.name == "postgresql"
        # The columns' own bind processors, resolved for this dialect once: the exact
        # conversion SQLAlchemy applies (UTC, SQLite's timestamp text, JSON encoding).
        self._time = _bind_processor(ARTICLES.c.published_at.type, dialect)
        self._json = _bind_processor(ARTICLES.c.evidence.type, dialect)
        self.insert_story = InsertSql(STORIES, ("id", "created_at", "updated_at"), dialect)
        self.insert_article = InsertSql(ARTICLES, ARTICLE_INSERT_COLUMNS, dialect)
        self.insert_topic = InsertSql(ARTICLE_TOPICS, ("article_id", "topic", "score"), dialect)
        self.insert_country = InsertSql(
            ARTICLE_COUNTRIES, ("article_id", "country", "rank"), dialect
        )
        assignments = ", ".join(
            f"{_column(ARTICLES, name)} = {self._mark}" for name in ARTICLE_UPDATE_COLUMNS
        )
        self.update_article = f"UPDATE {ARTICLES.name} SET {assignments} WHERE id = {self._mark}"
        # Every story's time is its newest article's publication time. An article that
        # joins a story can only make it newer: one indexed row update, no aggregate.
        self.raise_story_time = (
            f"UPDATE {STORIES.name} SET updated_at = {self._mark} "
            f"WHERE id = {self._mark} AND updated_at < {self._mark}"
        )
        self.refresh_story_times_prefix = (
            f"UPDATE {STORIES.name} SET updated_at = "
            f"(SELECT max({ARTICLES.name}.published_at) FROM {ARTICLES.name} "
            f"WHERE {ARTICLES.name}.story_id = {STORIES.name}.id) "
            f"WHERE {STORIES.name}.id IN "
        )

    # -- values --------------------------------------------------------------------

    def time(self, value: datetime) -> Any:
        """``value`` as the driver must receive it for a :class:`UTCDateTime` column."""
        return self._time(value)

    def json(self, value: Any) -> Any:
        """``value`` as the driver must receive it for the JSON ``evidence`` column."""
        return self._json(value)

    # -- statements ----------------------------------------------------------------

    def marks(self, count: int) -> str:
        """``(?, ?, ...)``: a parenthesised list of ``count`` placeholders."""
        return _marks(self._mark, count)

    def insert(self, connection: Connection, insert: InsertSql, rows: Sequence[Row]) -> None:
        """Insert ``rows`` (tuples in ``insert``'s column order)."""
        if not rows:
            return
        if self._postgresql:
            columns = tuple(list(column) for column in zip(*rows, strict=True))
            connection.exec_driver_sql(insert.unnest, columns)
        else:
            # sqlite3's executemany binds and steps every row in C.
            connection.exec_driver_sql(insert.one_row, list(rows))

    def known_articles(
        self, connection: Connection, feed_id: int, guids: Sequence[str], urls: Sequence[str]
    ) -> list[Row]:
        """Rows (:data:`KNOWN_COLUMNS`) of the articles of feed ``feed_id`` with one of
        ``guids``, or with one of ``urls`` in any feed; an article may come twice.

        One statement asks both ways (an OR of two indexed lookups). PostgreSQL gets
        the values as two arrays, so the statement text never changes and psycopg
        prepares it once; SQLite, which has no arrays, gets ``IN`` lists of at most
        :data:`IN_CHUNK` values.
        """
        columns = ", ".join(_column(ARTICLES, name) for name in KNOWN_COLUMNS)
        select = f"SELECT {columns} FROM {ARTICLES.name} WHERE "
        if self._postgresql:
            sql = select + "(feed_id = %s AND guid = ANY(%s)) OR url = ANY(%s)"
            return list(connection.exec_driver_sql(sql, (feed_id, list(guids), list(urls))))
        rows: list[Row] = []
        for start in range(0, max(len(guids), len(urls)), IN_CHUNK):
            guid_chunk = guids[start : start + IN_CHUNK]
            url_chunk = urls[start : start + IN_CHUNK]
            terms = []
            if guid_chunk:
                terms.append(f"(feed_id = ? AND guid IN {self.marks(len(guid_chunk))})")
            if url_chunk:
                terms.append(f"url IN {self.marks(len(url_chunk))}")
            params = (feed_id, *guid_chunk) if guid_chunk else ()
            rows.extend(
                connection.exec_driver_sql(select + " OR ".join(terms), (*params, *url_chunk))
            )
        return rows

    def reserve(
        self, connection: Connection, feed_id: int, articles: int, stories: int
    ) -> tuple[bool, list[int], list[int]]:
        """In one statement: does feed ``feed_id`` exist, and ids for that many new
        articles and new stories.

        SQLite: the writer holds the database's write lock (``BEGIN IMMEDIATE``, see
        :mod:`storage.engine`), so ``max(id) + 1`` onwards are exactly the ids SQLite
        itself would assign next. PostgreSQL: the ids are drawn from the tables' own
        sequences, as their column defaults would be.
        """
        feed = f"(SELECT 1 FROM {FEEDS.name} WHERE id = {self._mark})"
        if self._postgresql:
            row = connection.exec_driver_sql(
                f"SELECT {feed}, {_next_ids(ARTICLES)}, {_next_ids(STORIES)}",
                (feed_id, articles, stories),
            ).one()
            return row[0] is not None, list(row[1]), list(row[2])
        row = connection.exec_driver_sql(
            f"SELECT {feed}, (SELECT max(id) FROM {ARTICLES.name}), "
            f"(SELECT max(id) FROM {STORIES.name})",
            (feed_id,),
        ).one()
        first_article, first_story = (row[1] or 0) + 1, (row[2] or 0) + 1
        return (
            row[0] is not None,
            list(range(first_article, first_article + articles)),
            list(range(first_story, first_story + stories)),
        )

    def stories_of_sql(self, count: int) -> str:
        """``(id, story_id)`` of the articles with one of ``count`` ids."""
        return f"SELECT id, story_id FROM {ARTICLES.name} WHERE id IN {self.marks(count)}"

    def delete_classifications_sql(self, count: int) -> list[str]:
        """Statements removing the topics and countries of ``count`` article ids."""
        return [
            f"DELETE FROM {table.name} WHERE article_id IN {self.marks(count)}"
            for table in (ARTICLE_TOPICS, ARTICLE_COUNTRIES)
        ]

    def refresh_story_times_sql(self, count: int) -> str:
        """Set the time of ``count`` stories (ids as parameters) from their articles."""
        return self.refresh_story_times_prefix + self.marks(count)


def _next_ids(table: Table) -> str:
    """PostgreSQL: an array of ``%s`` fresh ids from ``table``'s id sequence."""
    # The sequence is looked up once per statement (an InitPlan), not once per id.
    sequence = f"(SELECT pg_get_serial_sequence('{table.name}', 'id'))::regclass"
    return f"ARRAY(SELECT nextval({sequence}) FROM generate_series(1, %s))"


def _marks(mark: str, count: int) -> str:
    return "(" + ", ".join([mark] * count) + ")"


def _bind_processor(column_type: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any]:
    processor = column_type.dialect_impl(dialect).bind_processor(dialect)
    return processor if processor is not None else _unchanged


def _unchanged(value: Any) -> Any:
    return value


def _column(table: Table, name: str) -> str:
    # Looking the column up (KeyError for a typo) keeps these statements tied to the
    # models: a renamed column fails at import, not on the first save.
    return table.c[name].name
