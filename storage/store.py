"""The narrow interface the rest of the project uses to reach the database.

Every public method is one short transaction (SQLAlchemy 2.0 style, ``select()`` and a
:class:`~sqlalchemy.orm.Session` per call; the collector's per-feed hot path,
:meth:`Store.known_articles` and :meth:`Store.save_articles`, runs the prepared
statements of :mod:`storage.driver_sql` on a Core connection instead) and speaks only
in the plain records of :mod:`storage.records`. Driver errors never escape: they become
:class:`~storage.errors.DatabaseUnavailableError` (cannot reach or open the database),
:class:`~storage.errors.ConflictError` (a uniqueness or reference rule would break) or
:class:`~storage.errors.StorageError` (anything else the database refused).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Update, bindparam, delete, func, literal, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from storage import migrate
from storage.chats import Chats
from storage.deliveries import Deliveries
from storage.driver_sql import IN_CHUNK, DriverSql
from storage.engine import WRITE_OPTION, create_engine_for, describe_db_error, mask_url
from storage.errors import (
    ConflictError,
    DatabaseUnavailableError,
    MigrationError,
    NotFoundError,
    StorageError,
)
from storage.models import Article, ArticleCountry, ArticleTopic, Feed, SearchIndexState, Story
from storage.records import (
    ArticleInput,
    ArticleText,
    Classification,
    DigestArticle,
    FeedSpec,
    FeedState,
    FetchRecord,
    KnownArticle,
    RecentArticle,
    SavedArticle,
    StoreStats,
    StoryCandidate,
    StoryInfo,
    Validators,
)
from storage.search import service as search
from storage.search.index import IndexText, indexed_texts, search_index_for
from storage.search.results import SearchResults
from storage.types import CODE_LENGTH, NAME_LENGTH, SHORT_LENGTH, URL_LENGTH

_T = TypeVar("_T")


class Store:
    """Synchronous access to the archive. Thread-safe: one instance per process.

    Open with :meth:`Store.open`; close with :meth:`close` (or use as a context manager).
    """

    def __init__(self, engine: Engine) -> None:
        """Wrap an engine made by :func:`storage.engine.create_engine_for`.

        Prefer :meth:`open`, which also checks the connection and the schema.
        """
        self._engine = engine
        self._url = mask_url(engine.url)
        self._reads = sessionmaker(engine, expire_on_commit=False)
        # On SQLite the write transactions start with BEGIN IMMEDIATE (see storage.engine).
        self._write_engine = engine.execution_options(**{WRITE_OPTION: True})
        self._writes = sessionmaker(self._write_engine, expire_on_commit=False)
        self._sql = DriverSql(engine.dialect)
        # A read of one statement sees one snapshot with or without a transaction. On
        # PostgreSQL autocommit spares the BEGIN and ROLLBACK, two round trips per call.
        self._single_reads = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else engine
        )
        self._search = search_index_for(engine.dialect.name)
        self.chats = Chats(self)
        """Chats and their settings."""
        self.deliveries = Deliveries(self)
        """The digest ledger: who gets which day's digest, and how far it got."""

    @classmethod
    def open(cls, url: str, *, upgrade: bool = True) -> Store:
        """Connect to ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``).

        With ``upgrade`` the schema is migrated to the newest revision first; without
        it, a schema that is not at the newest revision raises :class:`MigrationError`.
        Raises :class:`storage.errors.DatabaseUnavailableError` when the database
        cannot be reached, :class:`storage.errors.MigrationError` when migrating fails.
        The URL's password never appears in the error message.
        """
        engine = create_engine_for(url)
        try:
            try:
                with engine.connect() as connection:
                    connection.exec_driver_sql("SELECT 1")
            except DBAPIError as exc:
                raise DatabaseUnavailableError(
                    f"cannot open database {mask_url(engine.url)}: "
                    f"{describe_db_error(exc, engine.url)}"
                ) from exc
            if upgrade:
                migrate.upgrade(engine)
            else:
                current, head = migrate.current_revision(engine), migrate.head_revision()
                if current != head:
                    raise MigrationError(
                        f"database {mask_url(engine.url)} is at schema revision {current}, "
                        f"this version needs {head}: run the migrations"
                    )
            store = cls(engine)
            if upgrade:
                store.ensure_search_index()
        except BaseException:
            engine.dispose()
            raise
        return store

    def close(self) -> None:
        """Close every pooled connection. The store must not be used afterwards."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        """The database URL with the password hidden, for messages and logs."""
        return self._url

    # -- feeds ---------------------------------------------------------------------

    def sync_feeds(self, specs: Sequence[FeedSpec], *, now: datetime | None = None) -> None:
        """Make the stored feeds match the configuration, matched by ``key``.

        New keys are inserted, changed name/url/language/country/enabled are updated
        (a changed URL resets validators and health), keys no longer configured are
        marked disabled (never deleted: their articles stay in the archive).
        ``now`` is the creation time recorded for new feeds (default: the clock).
        Raises :class:`ValueError` for a duplicate key or an over-long field.
        """
        created_at = _aware(now, "now") if now is not None else datetime.now(UTC)
        seen: set[str] = set()
        for spec in specs:
            if spec.key in seen:
                raise ValueError(f"feed key {spec.key!r} is configured twice")
            seen.add(spec.key)
            _check_length("feed key", spec.key, SHORT_LENGTH)
            _check_length("feed name", spec.name, NAME_LENGTH)
            _check_length("feed URL", spec.url, URL_LENGTH)
            _check_length("feed country", spec.country, CODE_LENGTH)
            if spec.language is not None:
                _check_length("feed language", spec.language, CODE_LENGTH)
        with self._write() as session:
            stored = {feed.key: feed for feed in session.scalars(select(Feed))}
            for spec in specs:
                feed = stored.get(spec.key)
                if feed is None:
                    session.add(
                        Feed(
                            key=spec.key,
                            name=spec.name,
                            url=spec.url,
                            language=spec.language,
                            country=spec.country,
                            enabled=spec.enabled,
                            created_at=created_at,
                            consecutive_failures=0,
                        )
                    )
                    continue
                if feed.url != spec.url:
                    _reset_fetch_state(feed)
                feed.name = spec.name
                feed.url = spec.url
                feed.language = spec.language
                feed.country = spec.country
                feed.enabled = spec.enabled
            for key, feed in stored.items():
                if key not in seen:
                    feed.enabled = False

    def feed_states(
        self, *, enabled_only: bool = True, article_counts: bool = True
    ) -> list[FeedState]:
        """All (enabled) feeds with validators, health and article counts, by key.

        Without ``article_counts`` every ``article_count`` is 0 and the archive is not
        counted (a collection run does not need the counts; counting 10,000 articles
        was a third of reading the list).
        """
        # Plain rows, not ORM objects: a collection reads the list on every run, and
        # the ORM's identity map and attribute set-up doubled its cost.
        if article_counts:
            counts = (
                select(Article.feed_id, func.count().label("n"))
                .group_by(Article.feed_id)
                .subquery()
            )
            stmt = select(*_FEED_STATE_COLUMNS, func.coalesce(counts.c.n, 0)).outerjoin(
                counts, counts.c.feed_id == Feed.id
            )
        else:
            stmt = select(*_FEED_STATE_COLUMNS, literal(0))
        stmt = stmt.order_by(Feed.key)
        if enabled_only:
            stmt = stmt.where(Feed.enabled.is_(True))
        with self._connect() as connection:
            return [_feed_state_row(row) for row in connection.execute(stmt)]

    def feed_state(self, key: str) -> FeedState | None:
        """The stored feed with this key (enabled or not), or ``None``."""
        with self._read() as session:
            feed = session.scalars(select(Feed).where(Feed.key == key)).one_or_none()
            if feed is None:
                return None
            count = session.scalar(
                select(func.count()).select_from(Article).where(Article.feed_id == feed.id)
            )
            return _feed_state(feed, count or 0)

    def record_fetch(self, feed_id: int, record: FetchRecord) -> None:
        """Write one fetch attempt's outcome to the feed's health.

        Success: ``last_success_at``, ``consecutive_failures = 0``, clears
        ``last_error``; failure: sets ``last_error``/``last_error_at`` and increments
        ``consecutive_failures``. Always sets ``last_attempt_at`` and
        ``next_attempt_at``; sets validators when ``record.validators`` is not None.
        Raises :class:`NotFoundError` for an unknown ``feed_id``.
        """
        self.record_fetches([(feed_id, record)])

    def record_fetches(self, records: Sequence[tuple[int, FetchRecord]]) -> None:
        """:meth:`record_fetch` for many feeds in one transaction (in order, so a feed
        listed twice ends with its last record). Unknown ids raise
        :class:`NotFoundError` and nothing is written."""
        if not records:
            return
        checked = [
            (
                feed_id,
                record,
                _aware(record.attempted_at, "attempted_at"),
                _aware(record.next_attempt_at, "next_attempt_at"),
            )
            for feed_id, record in records
        ]
        # One UPDATE per kind of record (success or failure, with or without
        # validators), each sent for all its feeds at once (executemany): the ORM's
        # loading and flushing of every feed cost twice as much.
        batches: list[tuple[tuple[bool, bool], list[dict[str, Any]]]] = []
        for feed_id, record, attempted_at, next_attempt_at in checked:
            values: dict[str, Any] = {
                "b_id": feed_id,
                "b_attempted_at": attempted_at,
                "b_next_attempt_at": next_attempt_at,
            }
            if not record.succeeded:
                values["b_error"] = record.error or "unknown error"
            if record.validators is not None:
                values["b_etag"] = record.validators.etag
                values["b_last_modified"] = record.validators.last_modified
                values["b_body_sha256"] = record.validators.body_sha256
            kind = (record.succeeded, record.validators is not None)
            if batches and batches[-1][0] == kind:
                batches[-1][1].append(values)
            else:
                batches.append((kind, [values]))  # in order: a feed's last record wins
        with self._write_connection() as connection:
            ids = {feed_id for feed_id, *_ in checked}
            found = set(connection.scalars(select(Feed.id).where(Feed.id.in_(ids))))
            missing = ids - found
            if missing:
                raise NotFoundError(f"no feed with id {min(missing)}")
            for (succeeded, with_validators), rows in batches:
                connection.execute(_health_update(succeeded, with_validators), rows)

    # -- articles ------------------------------------------------------------------

    def known_articles(
        self, feed_id: int, guids: Iterable[str], urls: Iterable[str]
    ) -> list[KnownArticle]:
        """Stored articles whose (feed_id, guid) is among ``guids`` for this feed,
        or whose canonical URL is among ``urls`` in any feed. Each article once, by id.
        """
        guid_list = list(dict.fromkeys(guids))
        url_list = list(dict.fromkeys(urls))
        if not guid_list and not url_list:
            return []
        with self._connect() as connection:
            return self._known_articles(connection, feed_id, guid_list, url_list)

    def _known_articles(
        self, connection: Connection, feed_id: int, guids: list[str], urls: list[str]
    ) -> list[KnownArticle]:
        rows = self._sql.known_articles(connection, feed_id, guids, urls)
        found = {row[0]: KnownArticle(*row) for row in rows}
        return [found[article_id] for article_id in sorted(found)]

    def articles_for_feed(self, feed_id: int) -> list[KnownArticle]:
        """Identities of every stored article of one feed, by id."""
        stmt = (
            select(Article.id, Article.feed_id, Article.guid, Article.url, Article.content_hash)
            .where(Article.feed_id == feed_id)
            .order_by(Article.id)
        )
        with self._read() as session:
            return [KnownArticle(*row) for row in session.execute(stmt)]

    def save_articles(
        self,
        feed_id: int,
        new: Sequence[tuple[ArticleInput, int | None]],
        updated: Sequence[tuple[int, ArticleInput]],
        *,
        now: datetime,
    ) -> list[SavedArticle]:
        """Insert and update articles in one transaction.

        ``new`` pairs an article with the story it joins (``None``: start a new story);
        ``updated`` pairs an existing article id with its new content (its story is
        kept; its URL, text, language, publication time, hash and classification are
        replaced; feed and GUID stay). ``now`` is stored as first-seen / updated time.
        Returns one :class:`SavedArticle` per input, new ones first, in input order.

        The caller de-duplicates first (:meth:`known_articles`): a new article whose
        URL or (feed, GUID) is already stored, or repeated within ``new``, raises
        :class:`ConflictError` and nothing is written; so does an updated id given twice,
        or an updated URL that another stored article has, or a story id that does not
        exist. An unknown ``feed_id`` or updated id raises :class:`NotFoundError`. A URL
        or GUID longer than :data:`storage.types.URL_LENGTH` or a naive datetime raises
        :class:`ValueError`.
        """
        if not new and not updated:
            return []
        now = _aware(now, "now")
        _check_save(new, updated)
        with self._write_connection() as connection:
            self._search.lock_for_writing(connection)
            return self._save_articles(connection, feed_id, new, updated, now)

    @contextmanager
    def article_writer(self) -> Iterator[ArticleWriter]:
        """One write transaction for storing several feeds' articles, committed when the
        block ends (rolled back if it raises).

        :meth:`known_articles` and :meth:`save_articles` on the yielded
        :class:`ArticleWriter` behave as the store's own but run in this transaction
        (a lookup sees what was saved before it in the block). One commit for many
        feeds writes each touched page to the write-ahead log once instead of once per
        feed. All or nothing: a caller that must keep the others when one feed fails
        stores the feeds again, each in its own block. (No savepoint per feed: in
        SQLite every page a savepoint changes that an earlier feed had changed is first
        copied to a sub-journal, which cost more than the commits saved.)
        """
        with self._write_connection() as connection:
            self._search.lock_for_writing(connection)
            yield ArticleWriter(self, connection)

    def _save_articles(
        self,
        connection: Connection,
        feed_id: int,
        new: Sequence[tuple[ArticleInput, int | None]],
        updated: Sequence[tuple[int, ArticleInput]],
        now: datetime,
    ) -> list[SavedArticle]:
        """:meth:`save_articles` on ``connection``'s transaction, its input checked."""
        sql = self._sql
        stored_now = sql.time(now)
        starters = sum(1 for _article, story in new if story is None)
        feed_exists, article_ids, fresh_story_ids = sql.reserve(
            connection, feed_id, len(new), starters
        )
        if not feed_exists:
            raise NotFoundError(f"no feed with id {feed_id}")
        updated_stories = self._stories_of(connection, [article_id for article_id, _ in updated])

        # A new story holds one article, so its time is that article's publication
        # time, known now. A story that new articles join gets the newest of their
        # times if that is later than its own; only the stories of updated articles
        # (whose time may go back) are recomputed from their articles.
        fresh_stories = iter(fresh_story_ids)
        story_rows: list[tuple[Any, ...]] = []
        article_rows: list[tuple[Any, ...]] = []
        saved: list[SavedArticle] = []
        recompute: set[int] = set(updated_stories.values())
        joined_latest: dict[int, Any] = {}
        for article_id, (article, joins) in zip(article_ids, new, strict=True):
            published_at = sql.time(article.published_at)
            if joins is None:
                story = next(fresh_stories)
                story_rows.append((story, stored_now, published_at))
            else:
                story = joins
                # Driver values of one column compare as the times do (SQLite's are
                # fixed-width text).
                latest = joined_latest.get(story)
                if latest is None or published_at > latest:
                    joined_latest[story] = published_at
            article_rows.append(
                (
                    article_id,
                    feed_id,
                    story,
                    article.guid,
                    *_article_values(sql, article, published_at),
                    stored_now,  # first seen
                    stored_now,  # updated
                )
            )
            saved.append(SavedArticle(id=article_id, story_id=story, inserted=True))
        sql.insert(connection, sql.insert_story, story_rows)
        sql.insert(connection, sql.insert_article, article_rows)

        self._search.add(
            connection,
            [
                _index_text(article_id, article)
                for article_id, (article, _) in zip(article_ids, new, strict=True)
            ],
        )

        if updated:
            updated_ids = [article_id for article_id, _ in updated]
            self._search.replace(
                connection,
                [_index_text(article_id, article) for article_id, article in updated],
            )
            connection.exec_driver_sql(
                sql.update_article,
                [
                    (
                        *_article_values(sql, article, sql.time(article.published_at)),
                        stored_now,
                        article_id,
                    )
                    for article_id, article in updated
                ],
            )
            self._delete_classifications(connection, updated_ids)

        self._insert_classifications(
            connection,
            [
                *zip(article_ids, (article.classification for article, _ in new), strict=True),
                *((article_id, article.classification) for article_id, article in updated),
            ],
        )
        raised = [
            (latest, story, latest)
            for story, latest in joined_latest.items()
            if story not in recompute
        ]
        if raised:
            connection.exec_driver_sql(sql.raise_story_time, raised)
        self._refresh_story_times(connection, recompute)

        saved.extend(
            SavedArticle(id=article_id, story_id=updated_stories[article_id], inserted=False)
            for article_id, _ in updated
        )
        return saved

    def delete_articles(self, article_ids: Sequence[int]) -> int:
        """Delete articles (with their topics, countries and index entries); returns how many.

        A story left without articles is deleted too; a story that keeps some gets its
        time recomputed. Unknown ids are ignored.
        """
        ids = sorted(set(article_ids))
        if not ids:
            return 0
        with self._write_connection() as connection:
            self._search.lock_for_writing(connection)
            texts = indexed_texts(connection, ids)
            if not texts:
                return 0
            found = [text.article_id for text in texts]
            stories = set(self._stories_of(connection, found).values())
            self._search.remove(connection, texts)
            self._delete_classifications(connection, found)
            for chunk in _chunks(found):
                connection.execute(delete(Article).where(Article.id.in_(chunk)))
            emptied = connection.scalars(
                select(Story.id).where(
                    Story.id.in_(stories),
                    ~select(Article.id).where(Article.story_id == Story.id).exists(),
                )
            ).all()
            if emptied:
                connection.execute(delete(Story).where(Story.id.in_(emptied)))
            self._refresh_story_times(connection, stories - set(emptied))
            return len(found)

    def prune_articles(
        self, published_before: datetime, *, batch_size: int = 1000, max_batches: int | None = None
    ) -> int:
        """Delete the articles published before ``published_before``, the oldest first,
        as :meth:`delete_articles` does; returns how many.

        Each batch of ``batch_size`` is its own transaction, so a search or a collection
        waits for one batch at most; ``max_batches`` bounds one call's work (the rest is
        left for the next call).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, not {batch_size}")
        cutoff = _aware(published_before, "published_before")
        stmt = (
            select(Article.id)
            .where(Article.published_at < cutoff)
            .order_by(Article.published_at)  # the index's order: no sort of the backlog
            .limit(batch_size)
        )
        deleted = 0
        batches = 0
        while max_batches is None or batches < max_batches:
            with self._read() as session:
                ids = session.scalars(stmt).all()
            if not ids:
                break
            deleted += self.delete_articles(ids)
            batches += 1
        return deleted

    # -- search --------------------------------------------------------------------

    def find(self, text: str, *, now: datetime, limit: int = 5, offset: int = 0) -> SearchResults:
        """Search the archive with the user's query ``text`` (syntax: :mod:`storage.search.query`).

        Returns one page of ``limit`` hits (at most 50) after ``offset``, one per story,
        ranked by relevance with a gentle boost for recency (``now`` anchors it and
        ``since:7d``). Every input gives a :class:`SearchResults`: an over-long query,
        one with nothing to search for, or one that finds nothing are statuses, and
        filter values it does not know are notes. Text matches are ranked among the
        newest :data:`storage.search.index.CANDIDATES` matching articles.
        """
        now = _aware(now, "now")
        with self._read() as session:
            return search.find(
                session.connection(), self._search, text, now=now, limit=limit, offset=offset
            )

    def ensure_search_index(self, *, now: datetime | None = None) -> bool:
        """Rebuild the search index if an older analyser built it; True if it did.

        :meth:`open` calls this. Two processes opening at once rebuild once: the check
        is repeated inside the write transaction, which they cannot hold together.
        """
        with self._read() as session:
            if search.index_is_current(session.connection()):
                return False
        with self._write_connection() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    select(SearchIndexState.id).where(SearchIndexState.id == 1).with_for_update()
                )
            if search.index_is_current(connection):
                return False
            search.rebuild(connection, self._search, now=now or datetime.now(UTC))
        return True

    def rebuild_search_index(self, *, now: datetime | None = None) -> int:
        """Re-index every article now (``steppe reindex``); returns how many.

        Searches go on reading the old index meanwhile. On PostgreSQL, storing,
        reclassifying or deleting articles waits until the rebuild commits (a
        collection that runs meanwhile waits for it; see
        :meth:`storage.search.index.TsvectorIndex.rebuilding`).
        """
        with self._write_connection() as connection:
            return search.rebuild(connection, self._search, now=now or datetime.now(UTC))

    def story_candidates(self, since: datetime) -> list[StoryCandidate]:
        """Articles published at or after ``since``, for story grouping.

        Oldest publication first (ties by id).
        """
        stmt = (
            select(
                Article.id,
                Article.story_id,
                Article.feed_id,
                Article.title,
                Article.language,
                Article.published_at,
            )
            .where(Article.published_at >= _aware(since, "since"))
            .order_by(Article.published_at, Article.id)
        )
        with self._read() as session:
            return [StoryCandidate(*row) for row in session.execute(stmt)]

    def story_of(self, article_id: int) -> int | None:
        """The story id of an article, or ``None`` for an unknown article."""
        with self._read() as session:
            return session.scalar(select(Article.story_id).where(Article.id == article_id))

    def story(self, story_id: int) -> StoryInfo | None:
        """One story with its article ids, or ``None`` when there is no such story."""
        with self._read() as session:
            story = session.get(Story, story_id)
            if story is None:
                return None
            article_ids = session.scalars(
                select(Article.id)
                .where(Article.story_id == story_id)
                .order_by(Article.published_at, Article.id)
            ).all()
            return StoryInfo(
                id=story.id,
                created_at=story.created_at,
                updated_at=story.updated_at,
                article_ids=tuple(article_ids),
            )

    def iter_article_texts(self, batch_size: int = 500) -> Iterator[ArticleText]:
        """Every stored article's classifier input, in id order, read in batches.

        Each batch is its own short read, so a long re-classification run never holds
        a transaction open; articles added meanwhile with higher ids are included.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, not {batch_size}")
        last_id = 0
        while True:
            stmt = (
                select(
                    Article.id, Article.title, Article.summary, Article.content, Article.language
                )
                .where(Article.id > last_id)
                .order_by(Article.id)
                .limit(batch_size)
            )
            with self._read() as session:
                batch = [ArticleText(*row) for row in session.execute(stmt)]
            yield from batch
            if len(batch) < batch_size:
                return
            last_id = batch[-1].id

    def set_classifications(self, items: Sequence[tuple[int, Classification]]) -> None:
        """Replace the topics, countries and evidence of the given articles.

        An article given twice gets the last classification. Raises
        :class:`NotFoundError` (and writes nothing) when an id is not stored.
        """
        latest = dict(items)
        if not latest:
            return
        ids = sorted(latest)
        with self._write() as session:
            self._search.lock_for_writing(session.connection())
            # Each stored article's language (for the search index's facets), which
            # also tells which ids are stored.
            languages: dict[int, str] = {}
            for chunk in _chunks(ids):
                for article_id, language in session.execute(
                    select(Article.id, Article.language).where(Article.id.in_(chunk))
                ):
                    languages[article_id] = language
            missing = [article_id for article_id in ids if article_id not in languages]
            if missing:
                raise NotFoundError(f"no articles with ids {missing[:10]}")
            session.execute(
                update(Article),
                [
                    {"id": article_id, "evidence": _evidence(latest[article_id])}
                    for article_id in ids
                ],
            )
            self._delete_classifications(session.connection(), ids)
            self._insert_classifications(session.connection(), list(latest.items()))
            self._search.set_facets(
                session.connection(),
                [
                    IndexText(
                        article_id,
                        "",
                        "",
                        "",
                        languages[article_id],
                        topics=tuple(latest[article_id].topics),
                        countries=tuple(latest[article_id].countries),
                    )
                    for article_id in ids
                ],
            )

    def classification_of(self, article_id: int) -> Classification | None:
        """The stored topics, countries and evidence of one article, or ``None``."""
        with self._read() as session:
            evidence = session.scalar(select(Article.evidence).where(Article.id == article_id))
            if evidence is None:
                return None
            topics = session.execute(
                select(ArticleTopic.topic, ArticleTopic.score)
                .where(ArticleTopic.article_id == article_id)
                .order_by(ArticleTopic.topic)
            )
            countries = session.scalars(
                select(ArticleCountry.country)
                .where(ArticleCountry.article_id == article_id)
                .order_by(ArticleCountry.rank)
            ).all()
            return Classification(
                topics={str(topic): float(score) for topic, score in topics},
                countries=list(countries),
                evidence={key: list(terms) for key, terms in evidence.items()},
            )

    def article_count(self) -> int:
        """How many articles are stored."""
        with self._read() as session:
            return session.scalar(select(func.count()).select_from(Article)) or 0

    def stats(self) -> StoreStats:
        """Row counts of feeds (all and enabled), articles and stories."""
        with self._read() as session:

            def count(stmt: Any) -> int:
                return int(session.scalar(stmt) or 0)

            return StoreStats(
                feeds=count(select(func.count()).select_from(Feed)),
                enabled_feeds=count(
                    select(func.count()).select_from(Feed).where(Feed.enabled.is_(True))
                ),
                articles=count(select(func.count()).select_from(Article)),
                stories=count(select(func.count()).select_from(Story)),
            )

    # -- helpers -------------------------------------------------------------------

    # -- digest ------------------------------------------------------------------------

    def digest_articles(
        self, *, seen_since: datetime, published_since: datetime
    ) -> list[DigestArticle]:
        """Classified articles first seen at or after ``seen_since`` and published at or
        after ``published_since``: every candidate of the digests built now.

        Both bounds matter: "first seen" makes an article collected late (its outlet was
        down) still new to a chat, "published" keeps a feed's backlog of old articles
        out. Only articles with at least one topic and one country are returned (a
        digest is organised by topic and filtered by country). Oldest first.
        """
        seen_since = _aware(seen_since, "seen_since")
        published_since = _aware(published_since, "published_since")
        with self._read() as session:
            rows = session.execute(
                select(
                    Article.id,
                    Article.story_id,
                    Article.title,
                    Article.summary,
                    Article.url,
                    Feed.name,
                    Feed.country,
                    Article.language,
                    Article.published_at,
                    Article.first_seen_at,
                )
                .join(Feed, Feed.id == Article.feed_id)
                .where(Article.first_seen_at >= seen_since)
                .where(Article.published_at >= published_since)
                .order_by(Article.published_at, Article.id)
            ).all()
            ids = [row[0] for row in rows]
            topics_of: dict[int, dict[str, float]] = {}
            countries_of: dict[int, list[str]] = {}
            for chunk in _chunks(ids):
                for article_id, topic, score in session.execute(
                    select(ArticleTopic.article_id, ArticleTopic.topic, ArticleTopic.score).where(
                        ArticleTopic.article_id.in_(chunk)
                    )
                ):
                    topics_of.setdefault(article_id, {})[topic] = float(score)
                for article_id, country in session.execute(
                    select(ArticleCountry.article_id, ArticleCountry.country)
                    .where(ArticleCountry.article_id.in_(chunk))
                    .order_by(ArticleCountry.article_id, ArticleCountry.rank)
                ):
                    countries_of.setdefault(article_id, []).append(country)
        return [
            DigestArticle(
                id=article_id,
                story_id=story_id,
                title=title,
                summary=summary,
                url=url,
                outlet=outlet,
                outlet_country=outlet_country,
                language=language,
                published_at=published_at,
                first_seen_at=first_seen_at,
                topics=topics_of[article_id],
                countries=tuple(countries_of[article_id]),
            )
            for (
                article_id,
                story_id,
                title,
                summary,
                url,
                outlet,
                outlet_country,
                language,
                published_at,
                first_seen_at,
            ) in rows
            if article_id in topics_of and article_id in countries_of
        ]

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        """Hold the cluster-wide lock ``name`` for the ``with`` block, if it is free.

        Yields True when this process holds it, False when another does (do not wait:
        the other one is doing the work). PostgreSQL: a session advisory lock on a
        dedicated connection, released when the block ends or the connection drops
        (a crashed holder frees it). SQLite serves one host, where a single process runs
        the scheduled jobs: always True.
        """
        if self._engine.dialect.name != "postgresql":
            yield True
            return
        key = _lock_key(name)
        with self._translate_errors(), self._single_reads.connect() as connection:
            held = bool(
                connection.exec_driver_sql("SELECT pg_try_advisory_lock(%s)", (key,)).scalar()
            )
            try:
                yield held
            finally:
                if held:
                    connection.exec_driver_sql("SELECT pg_advisory_unlock(%s)", (key,))

    # -- bot queries ---------------------------------------------------------------

    def recent_articles(
        self,
        since: datetime,
        *,
        topics: Iterable[str] = (),
        countries: Iterable[str] = (),
        limit: int = 50,
    ) -> list[RecentArticle]:
        """Articles published at or after ``since``, newest first, at most ``limit``.

        With ``topics`` only articles with one of them; with ``countries`` only articles
        about one of them (an empty filter means no filter). One article per story
        would be the digest's job; this is the simple list of the bot's ``/digest``.
        """
        since = _aware(since, "since")
        stmt = (
            select(Article.id, Article.title, Article.url, Feed.name, Article.published_at)
            .join(Feed, Feed.id == Article.feed_id)
            .where(Article.published_at >= since)
            .order_by(Article.published_at.desc(), Article.id.desc())
            .limit(max(limit, 0))
        )
        topic_list, country_list = list(topics), list(countries)
        if topic_list:
            stmt = stmt.where(
                Article.id.in_(
                    select(ArticleTopic.article_id).where(ArticleTopic.topic.in_(topic_list))
                )
            )
        if country_list:
            stmt = stmt.where(
                Article.id.in_(
                    select(ArticleCountry.article_id).where(
                        ArticleCountry.country.in_(country_list)
                    )
                )
            )
        with self._read() as session:
            rows = session.execute(stmt).all()
            ids = [row[0] for row in rows]
            topics_of: dict[int, list[str]] = {}
            countries_of: dict[int, list[str]] = {}
            if ids:
                for article_id, topic in session.execute(
                    select(ArticleTopic.article_id, ArticleTopic.topic)
                    .where(ArticleTopic.article_id.in_(ids))
                    .order_by(ArticleTopic.score.desc())
                ):
                    topics_of.setdefault(article_id, []).append(topic)
                for article_id, country in session.execute(
                    select(ArticleCountry.article_id, ArticleCountry.country)
                    .where(ArticleCountry.article_id.in_(ids))
                    .order_by(ArticleCountry.rank)
                ):
                    countries_of.setdefault(article_id, []).append(country)
        return [
            RecentArticle(
                id=article_id,
                title=title,
                url=url,
                outlet=outlet,
                published_at=published_at,
                topics=tuple(topics_of.get(article_id, ())),
                countries=tuple(countries_of.get(article_id, ())),
            )
            for article_id, title, url, outlet, published_at in rows
        ]

    def articles_since(self, since: datetime) -> int:
        """How many articles were published at or after ``since``."""
        since = _aware(since, "since")
        with self._read() as session:
            return int(
                session.scalar(
                    select(func.count()).select_from(Article).where(Article.published_at >= since)
                )
                or 0
            )

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._translate_errors(), self._reads() as session, session.begin():
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with self._translate_errors(), self._writes.begin() as session:
            yield session

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        """A Core connection for a hot-path read of a single statement (on PostgreSQL
        it runs in autocommit mode: a second statement would see another snapshot)."""
        with self._translate_errors(), self._single_reads.connect() as connection:
            yield connection

    @contextmanager
    def _write_connection(self) -> Iterator[Connection]:
        """A Core connection in a write transaction, committed on success."""
        with self._translate_errors(), self._write_engine.begin() as connection:
            yield connection

    @contextmanager
    def _translate_errors(self) -> Iterator[None]:
        """Turn driver exceptions into the storage layer's own (the layers above
        never import SQLAlchemy, so they could not catch its exceptions)."""
        try:
            yield
        except IntegrityError as exc:
            raise ConflictError(
                f"refused by the database: {describe_db_error(exc, self._engine.url)}"
            ) from exc
        except (OperationalError, InterfaceError) as exc:
            raise DatabaseUnavailableError(
                f"database {self._url} failed: {describe_db_error(exc, self._engine.url)}"
            ) from exc
        except DBAPIError as exc:
            raise StorageError(
                f"database {self._url} refused a statement: "
                f"{describe_db_error(exc, self._engine.url)}"
            ) from exc

    def _stories_of(self, connection: Connection, article_ids: Sequence[int]) -> dict[int, int]:
        """Story id of each given article; :class:`NotFoundError` if one is missing."""
        stories: dict[int, int] = {}
        for chunk in _chunks(sorted(set(article_ids))):
            rows = connection.exec_driver_sql(self._sql.stories_of_sql(len(chunk)), tuple(chunk))
            stories.update((int(article_id), int(story_id)) for article_id, story_id in rows)
        missing = [article_id for article_id in article_ids if article_id not in stories]
        if missing:
            raise NotFoundError(f"no articles with ids {missing[:10]}")
        return stories

    def _delete_classifications(self, connection: Connection, article_ids: Sequence[int]) -> None:
        for chunk in _chunks(article_ids):
            for statement in self._sql.delete_classifications_sql(len(chunk)):
                connection.exec_driver_sql(statement, tuple(chunk))

    def _insert_classifications(
        self, connection: Connection, items: Sequence[tuple[int, Classification]]
    ) -> None:
        topics = [
            (article_id, topic, float(score))
            for article_id, classification in items
            for topic, score in classification.topics.items()
        ]
        countries = [
            (article_id, country, rank)
            for article_id, classification in items
            for rank, country in enumerate(dict.fromkeys(classification.countries))
        ]
        self._sql.insert(connection, self._sql.insert_topic, topics)
        self._sql.insert(connection, self._sql.insert_country, countries)

    def _refresh_story_times(self, connection: Connection, story_ids: set[int]) -> None:
        """Set each story's ``updated_at`` to its newest article's publication time."""
        for chunk in _chunks(sorted(story_ids)):
            connection.exec_driver_sql(self._sql.refresh_story_times_sql(len(chunk)), tuple(chunk))


class ArticleWriter:
    """The collector's article lookups and saves in one write transaction.

    Made by :meth:`Store.article_writer`, usable only inside its ``with`` block and from
    one thread at a time. Errors are the store's own, as for the :class:`Store` methods.
    """

    def __init__(self, store: Store, connection: Connection) -> None:
        self._store = store
        self._connection = connection

    def known_articles(
        self, feed_id: int, guids: Iterable[str], urls: Iterable[str]
    ) -> list[KnownArticle]:
        """:meth:`Store.known_articles`, seeing what this transaction saved so far."""
        guid_list = list(dict.fromkeys(guids))
        url_list = list(dict.fromkeys(urls))
        if not guid_list and not url_list:
            return []
        with self._store._translate_errors():
            return self._store._known_articles(self._connection, feed_id, guid_list, url_list)

    def save_articles(
        self,
        feed_id: int,
        new: Sequence[tuple[ArticleInput, int | None]],
        updated: Sequence[tuple[int, ArticleInput]],
        *,
        now: datetime,
    ) -> list[SavedArticle]:
        """:meth:`Store.save_articles` in this transaction: same arguments, checks,
        errors and result. On an error part of the batch may have been written: the
        transaction must then be rolled back (let the exception leave the block)."""
        if not new and not updated:
            return []
        now = _aware(now, "now")
        _check_save(new, updated)
        with self._store._translate_errors():
            return self._store._save_articles(self._connection, feed_id, new, updated, now)


def _lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for ``name``."""
    digest = hashlib.blake2b(f"steppe:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _index_text(article_id: int, article: ArticleInput) -> IndexText:
    return IndexText(
        article_id,
        article.title,
        article.summary,
        article.content,
        article.language,
        tuple(article.classification.topics),
        tuple(article.classification.countries),
    )


def _chunks(values: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(values), IN_CHUNK):
        yield values[start : start + IN_CHUNK]


_FEED_STATE_COLUMNS = (
    Feed.id,
    Feed.key,
    Feed.name,
    Feed.url,
    Feed.language,
    Feed.country,
    Feed.enabled,
    Feed.etag,
    Feed.last_modified,
    Feed.body_sha256,
    Feed.last_attempt_at,
    Feed.last_success_at,
    Feed.last_error,
    Feed.last_error_at,
    Feed.consecutive_failures,
    Feed.next_attempt_at,
)


def _feed_state_row(row: Sequence[Any]) -> FeedState:
    """A :class:`FeedState` from a row of :data:`_FEED_STATE_COLUMNS` and a count."""
    (
        feed_id,
        key,
        name,
        url,
        language,
        country,
        enabled,
        etag,
        last_modified,
        body_sha256,
        last_attempt_at,
        last_success_at,
        last_error,
        last_error_at,
        consecutive_failures,
        next_attempt_at,
        article_count,
    ) = row
    return FeedState(
        id=feed_id,
        spec=FeedSpec(
            key=key, name=name, url=url, language=language, country=country, enabled=enabled
        ),
        validators=Validators(etag=etag, last_modified=last_modified, body_sha256=body_sha256),
        last_attempt_at=last_attempt_at,
        last_success_at=last_success_at,
        last_error=last_error,
        last_error_at=last_error_at,
        consecutive_failures=consecutive_failures,
        next_attempt_at=next_attempt_at,
        article_count=int(article_count),
    )


@functools.cache
def _health_update(succeeded: bool, with_validators: bool) -> Update:
    """The UPDATE that :meth:`Store.record_fetches` sends for one kind of record,
    with bind parameters ``b_id``, ``b_attempted_at``, ``b_next_attempt_at`` and,
    by kind, ``b_error`` and ``b_etag``, ``b_last_modified``, ``b_body_sha256``."""
    values: dict[str, Any] = {
        "last_attempt_at": bindparam("b_attempted_at"),
        "next_attempt_at": bindparam("b_next_attempt_at"),
    }
    if succeeded:
        values.update(last_success_at=bindparam("b_attempted_at"), consecutive_failures=0)
        values["last_error"] = None
    else:
        values.update(
            last_error=bindparam("b_error"),
            last_error_at=bindparam("b_attempted_at"),
            consecutive_failures=Feed.consecutive_failures + 1,
        )
    if with_validators:
        values.update(
            etag=bindparam("b_etag"),
            last_modified=bindparam("b_last_modified"),
            body_sha256=bindparam("b_body_sha256"),
        )
    return update(Feed).where(Feed.id == bindparam("b_id")).values(values)


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value}")
    return value.astimezone(UTC)


def _check_length(what: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise ValueError(f"{what} is {len(value)} characters long, over the limit of {limit}")


def _check_article(article: ArticleInput) -> None:
    # Runs for every saved article: one cheap combined test, and the precise message
    # (which _check_length builds) only when a value is actually too long.
    if (
        len(article.url) > URL_LENGTH
        or len(article.guid) > URL_LENGTH
        or len(article.language) > CODE_LENGTH
        or len(article.content_hash) > SHORT_LENGTH
    ):
        _check_length("article URL", article.url, URL_LENGTH)
        _check_length("article GUID", article.guid, URL_LENGTH)
        _check_length("article language", article.language, CODE_LENGTH)
        _check_length("content hash", article.content_hash, SHORT_LENGTH)
    if article.published_at.utcoffset() is None:
        _aware(article.published_at, f"published_at of {article.url}")
    for codes in (article.classification.topics, article.classification.countries):
        for code in codes:
            _check_length("topic or country code", code, CODE_LENGTH)


def _check_save(
    new: Sequence[tuple[ArticleInput, int | None]], updated: Sequence[tuple[int, ArticleInput]]
) -> None:
    """The checks :meth:`Store.save_articles` makes before writing anything."""
    for article, _story in new:
        _check_article(article)
    for _id, article in updated:
        _check_article(article)
    _refuse_repeats(new)
    if len({article_id for article_id, _ in updated}) != len(updated):
        raise ConflictError("an article id appears twice among the updated articles")


def _refuse_repeats(new: Sequence[tuple[ArticleInput, int | None]]) -> None:
    urls: set[str] = set()
    guids: set[str] = set()
    for article, _story in new:
        if article.url in urls:
            raise ConflictError(f"article URL {article.url} appears twice in one batch")
        if article.guid in guids:
            raise ConflictError(f"article GUID {article.guid!r} appears twice in one batch")
        urls.add(article.url)
        guids.add(article.guid)


def _evidence(classification: Classification) -> dict[str, Any]:
    return {key: list(terms) for key, terms in classification.evidence.items()}


def _article_values(sql: DriverSql, article: ArticleInput, published_at: Any) -> tuple[Any, ...]:
    """Driver values shared by inserting and updating an article, in the column order
    of :data:`storage.driver_sql.ARTICLE_UPDATE_COLUMNS` (without ``updated_at``).
    ``published_at`` is the article's publication time already converted by ``sql``."""
    return (
        article.url,
        article.title,
        article.summary,
        article.content,
        article.language,
        published_at,
        article.content_hash,
        sql.json(_evidence(article.classification)),
    )


def _reset_fetch_state(feed: Feed) -> None:
    """Forget validators and health: they describe the old URL."""
    feed.etag = None
    feed.last_modified = None
    feed.body_sha256 = None
    feed.last_attempt_at = None
    feed.last_success_at = None
    feed.last_error = None
    feed.last_error_at = None
    feed.consecutive_failures = 0
    feed.next_attempt_at = None


def _feed_state(feed: Feed, article_count: int) -> FeedState:
    return FeedState(
        id=feed.id,
        spec=FeedSpec(
            key=feed.key,
            name=feed.name,
            url=feed.url,
            language=feed.language,
            country=feed.country,
            enabled=feed.enabled,
        ),
        validators=Validators(
            etag=feed.etag, last_modified=feed.last_modified, body_sha256=feed.body_sha256
        ),
        last_attempt_at=feed.last_attempt_at,
        last_success_at=feed.last_success_at,
        last_error=feed.last_error,
        last_error_at=feed.last_error_at,
        consecutive_failures=feed.consecutive_failures,
        next_attempt_at=feed.next_attempt_at,
        article_count=int(article_count),
    )
