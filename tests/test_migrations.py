"""Migrations: upgrade from nothing, no drift between models and migrations."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError

from storage import MigrationError, Store, check, current_revision, head_revision, upgrade
from storage.engine import create_engine_for
from storage.models import is_search_index_table, metadata

REPOSITORY = Path(__file__).resolve().parent.parent


def _tables(url: str) -> set[str]:
    engine = create_engine_for(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_from_empty_creates_the_schema_without_drift(empty_database_url: str) -> None:
    assert current_revision(empty_database_url) is None
    assert _tables(empty_database_url) == set()
    upgrade(empty_database_url)
    assert current_revision(empty_database_url) == head_revision()
    tables = _tables(empty_database_url)
    index_tables = {table for table in tables if is_search_index_table(table)}
    assert tables - index_tables == {*metadata.tables, "alembic_version"}
    # The full-text index: FTS5 (plus its shadow tables) or a tsvector table.
    assert ("article_fts" in index_tables) != ("article_search" in index_tables)
    check(empty_database_url)  # autogenerate finds nothing to change
    upgrade(empty_database_url)  # a second upgrade is a no-op
    assert current_revision(empty_database_url) == head_revision()


def test_check_refuses_an_unmigrated_database(empty_database_url: str) -> None:
    with pytest.raises(MigrationError, match="not at head"):
        check(empty_database_url)


def test_check_reports_drift(database_url: str) -> None:
    engine = create_engine_for(database_url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP INDEX ix_articles_published_at")
        with pytest.raises(MigrationError, match="ix_articles_published_at"):
            check(engine)
    finally:
        with engine.begin() as connection:
            # Put it back: on PostgreSQL the migrated schema is shared by the session.
            connection.exec_driver_sql(
                "CREATE INDEX ix_articles_published_at ON articles (published_at)"
            )
        engine.dispose()


def test_store_open_migrates_an_empty_database(empty_database_url: str) -> None:
    with Store.open(empty_database_url) as store:
        assert store.article_count() == 0
    assert current_revision(empty_database_url) == head_revision()


def test_downgrade_to_base_and_back(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    engine = create_engine_for(empty_database_url)
    try:
        with engine.begin() as connection:
            config = Config()
            config.set_main_option("script_location", str(REPOSITORY / "storage" / "migrations"))
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
    finally:
        engine.dispose()
    assert _tables(empty_database_url) == {"alembic_version"}
    upgrade(empty_database_url)
    check(empty_database_url)


def test_repository_alembic_ini_reads_the_url_from_the_environment(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEPPE_DATABASE_URL", empty_database_url)
    config = Config(str(REPOSITORY / "alembic.ini"))
    config.attributes["configure_logging"] = False  # keep pytest's log capture intact
    with pytest.raises(CommandError, match="not up to date"):
        command.check(config)
    command.upgrade(config, "head")
    command.check(config)
    assert current_revision(empty_database_url) == head_revision()
