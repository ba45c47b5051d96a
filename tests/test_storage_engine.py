"""Column types and engine set-up: aware UTC datetimes, SQLite pragmas, URL handling."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import StatementError

import storage.engine
from storage import (
    ArticleInput,
    Classification,
    DatabaseUnavailableError,
    FeedSpec,
    MigrationError,
    Store,
)
from storage.engine import create_engine_for, mask_url, parse_url
from storage.models import Feed, Story

ALMATY = timezone(timedelta(hours=5))


def test_datetimes_round_trip_as_aware_utc(database_url: str) -> None:
    engine = create_engine_for(database_url)
    created = datetime(2025, 3, 14, 9, 30, 15, 123456, tzinfo=ALMATY)
    try:
        with sa.orm.Session(engine) as session, session.begin():
            session.add(Story(created_at=created, updated_at=created))
        with sa.orm.Session(engine) as session:
            story = session.scalars(sa.select(Story)).one()
        assert story.created_at == created
        assert story.created_at.tzinfo is UTC
        assert story.created_at.hour == 4  # 09:30 in Almaty (UTC+5) is 04:30 UTC
        assert story.created_at.microsecond == 123456
    finally:
        engine.dispose()


def test_comparisons_use_the_instant_not_the_wall_clock(database_url: str) -> None:
    engine = create_engine_for(database_url)
    early = datetime(2025, 3, 14, 4, 0, tzinfo=UTC)
    late = datetime(2025, 3, 14, 6, 0, tzinfo=UTC)
    try:
        with sa.orm.Session(engine) as session, session.begin():
            session.add_all([Story(created_at=t, updated_at=t) for t in (early, late)])
        # 10:00 in Almaty is 05:00 UTC: only the 06:00 UTC story is after it.
        cutoff = datetime(2025, 3, 14, 10, 0, tzinfo=ALMATY)
        with sa.orm.Session(engine) as session:
            found = session.scalars(sa.select(Story.created_at).where(Story.created_at > cutoff))
            assert list(found) == [late]
    finally:
        engine.dispose()


def test_naive_datetime_is_refused_on_write(database_url: str) -> None:
    engine = create_engine_for(database_url)
    try:
        with (
            pytest.raises(StatementError, match="naive datetime") as caught,
            sa.orm.Session(engine) as session,
            session.begin(),
        ):
            session.add(
                Story(created_at=datetime(2025, 1, 1, 12), updated_at=datetime(2025, 1, 1, 12))  # noqa: DTZ001
            )
        assert isinstance(caught.value.orig, ValueError)
    finally:
        engine.dispose()


def _pragma(engine: sa.Engine, name: str) -> object:
    with engine.connect() as connection:
        return connection.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'steppe.db'}")
    try:
        assert str(_pragma(engine, "journal_mode")).lower() == "wal"
        assert _pragma(engine, "foreign_keys") == 1
        assert _pragma(engine, "busy_timeout") == 5000
        assert _pragma(engine, "synchronous") == 1  # NORMAL
        assert (tmp_path / "nested" / "dir" / "steppe.db").exists()
    finally:
        engine.dispose()


def test_sqlite_enforces_foreign_keys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'steppe.db'}"
    with Store.open(url):
        pass
    engine = create_engine_for(url)
    try:
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO article_topics (article_id, topic, score) VALUES (999, 'energy', 1.0)"
            )
    finally:
        engine.dispose()


def test_sqlite_store_is_usable_from_several_threads(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    with Store.open(f"sqlite:///{tmp_path / 'steppe.db'}") as store:

        def count() -> None:
            try:
                for _ in range(20):
                    store.article_count()
            except BaseException as exc:  # reported below: a thread cannot raise into the test
                errors.append(exc)

        threads = [threading.Thread(target=count) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []


def test_bare_postgresql_url_means_psycopg_3() -> None:
    assert parse_url("postgresql://bot@db.example/steppe").drivername == "postgresql+psycopg"
    assert parse_url("postgresql+psycopg://bot@db/steppe").drivername == "postgresql+psycopg"


def test_unsupported_backend_is_a_clear_error() -> None:
    with pytest.raises(DatabaseUnavailableError, match="unsupported database 'mysql'"):
        create_engine_for("mysql://root:hunter2@localhost/steppe")


def test_mask_url_hides_the_password_even_in_unparsable_urls() -> None:
    assert mask_url("postgresql+psycopg://bot:s3cret@db:5432/steppe") == (
        "postgresql+psycopg://bot:***@db:5432/steppe"
    )
    assert "s3cret" not in mask_url("postgresql://bot:s3cret@db:notaport/steppe")
    assert mask_url("sqlite:///data/steppe.db") == "sqlite:///data/steppe.db"


def test_unreachable_server_is_reported_without_the_password() -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    url = "postgresql+psycopg://steppe:topsecret@127.0.0.1:1/steppe?connect_timeout=2"
    with pytest.raises(DatabaseUnavailableError) as caught:
        Store.open(url)
    assert "topsecret" not in str(caught.value)
    assert "127.0.0.1:1" in str(caught.value)


def test_sqlite_path_that_cannot_be_created_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(DatabaseUnavailableError, match="cannot create the directory"):
        Store.open(f"sqlite:///{blocker / 'steppe.db'}")


def test_sqlite_file_that_is_not_a_database_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "steppe.db"
    path.write_bytes(b"this is a text file, not a SQLite database" * 100)
    with pytest.raises(DatabaseUnavailableError, match=r"steppe\.db"):
        Store.open(f"sqlite:///{path}")


def test_open_without_upgrade_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="run the migrations"):
        Store.open(f"sqlite:///{tmp_path / 'steppe.db'}", upgrade=False)


def test_feed_model_defaults(database_url: str) -> None:
    engine = create_engine_for(database_url)
    try:
        with sa.orm.Session(engine) as session, session.begin():
            session.add(
                Feed(
                    key="kun",
                    name="Kun.uz",
                    url="https://kun.uz/en/rss",
                    language=None,
                    country="uz",
                    created_at=datetime(2025, 1, 1, tzinfo=UTC),
                )
            )
        with sa.orm.Session(engine) as session:
            feed = session.scalars(sa.select(Feed)).one()
            assert feed.enabled is True
            assert feed.consecutive_failures == 0
    finally:
        engine.dispose()


def test_two_stores_writing_one_sqlite_file_at_once_both_succeed(tmp_path: Path) -> None:
    # Two processes' worth of writers: the second waits for the lock (busy_timeout,
    # BEGIN IMMEDIATE) instead of failing with "database is locked".
    url = f"sqlite:///{tmp_path / 'steppe.db'}"
    now = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
    feeds = [
        FeedSpec(key="24kz", name="24.kz", url="https://24.kz/rss", language="ru", country="kz"),
        FeedSpec(
            key="trend", name="Trend", url="https://trend.az/rss", language="en", country="az"
        ),
    ]
    with Store.open(url) as setup:
        setup.sync_feeds(feeds, now=now)
        feed_ids = [state.id for state in setup.feed_states()]
    errors: list[BaseException] = []

    def write(feed_id: int) -> None:
        try:
            with Store.open(url, upgrade=False) as store:
                for batch in range(15):
                    items = [
                        (
                            ArticleInput(
                                guid=f"{feed_id}-{batch}-{i}",
                                url=f"https://example.az/{feed_id}/{batch}/{i}",
                                title="Азербайджан и Казахстан обсудили Транскаспийский маршрут",
                                summary="",
                                content="",
                                language="ru",
                                published_at=now,
                                content_hash="0" * 64,
                                classification=Classification(topics={}, countries=["az"]),
                            ),
                            None,
                        )
                        for i in range(10)
                    ]
                    store.known_articles(feed_id, [a.guid for a, _ in items], [])
                    store.save_articles(feed_id, items, [], now=now)
        except BaseException as exc:  # reported below: a thread cannot raise into the test
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(feed_id,)) for feed_id in feed_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with Store.open(url) as store:
        assert store.article_count() == 2 * 15 * 10


def _terminate_backends(server_url: str, application_name: str) -> int:
    """Kill the server sessions of one application name, waiting until they are gone."""
    engine = sa.create_engine(server_url, poolclass=sa.NullPool)
    try:
        with engine.begin() as connection:
            killed = connection.execute(
                sa.text(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) "
                    "FROM pg_stat_activity WHERE application_name = :name"
                ),
                {"name": application_name},
            ).scalar_one()
    finally:
        engine.dispose()
    return int(killed)


def test_postgres_connection_dropped_while_pooled_is_replaced(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("only PostgreSQL keeps server connections in the pool")
    name = f"steppe_ping_{uuid.uuid4().hex[:12]}"
    url = make_url(database_url).update_query_dict({"application_name": name})
    with Store.open(url.render_as_string(hide_password=False), upgrade=False) as store:
        assert store.article_count() == 0
        assert _terminate_backends(database_url, name) == 1
        # Reused at once, a pooled connection is not pinged: the dead one fails the
        # call with a clear error, and the pool lets it go...
        with pytest.raises(DatabaseUnavailableError, match="failed"):
            store.article_count()
        # ...so the next call gets a new connection.
        assert store.article_count() == 0

        # A connection that sat unused longer than the limit is pinged first, and a
        # dead one is replaced without the caller noticing (limit below zero: always).
        monkeypatch.setattr(storage.engine, "PING_AFTER_IDLE_SECONDS", -1.0)
        assert _terminate_backends(database_url, name) == 1
        assert store.article_count() == 0
        assert store.stats().feeds == 0
