"""``steppe db compact``: the SQLite file rewritten with the service stopped, smaller and
in 16 KB pages, with every article still there; refused while in use and on PostgreSQL.

These tests make SQLite files of their own, whatever ``STEPPE_TEST_DATABASE`` says.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.cli import EXIT_DATABASE, EXIT_OK, EXIT_USAGE, main
from storage import Store
from tests.test_backup import NOW, add_articles, write_config


def sqlite_pragma(path: Path, name: str) -> object:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        connection.close()


def file_bytes(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


@pytest.fixture
def old_database(tmp_path: Path) -> Path:
    """A database made before 16 KB pages, with most of its articles deleted since."""
    path = tmp_path / "data" / "steppe.db"
    path.parent.mkdir()
    made = sqlite3.connect(path)
    made.execute("PRAGMA page_size = 4096")
    made.execute("CREATE TABLE made_before_the_upgrade (x)")  # fixes the page size
    made.execute("DROP TABLE made_before_the_upgrade")
    made.close()
    with Store.open(f"sqlite:///{path}") as store:
        add_articles(store, [f"Solar plant number {n} opens in Shymkent" for n in range(1500)])
        add_articles(store, ["Tashkent IT Park grows"])
        doomed = [a.id for a in store.iter_article_texts() if a.title.startswith("Solar")]
        assert store.delete_articles(doomed[1:]) == 1499
    assert sqlite_pragma(path, "page_size") == 4096
    return path


def test_compact_shrinks_the_file_into_16_kb_pages_and_keeps_every_article(
    old_database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = file_bytes(old_database)
    assert sqlite_pragma(old_database, "freelist_count") != 0  # the deleted articles' pages
    config = write_config(tmp_path, f"sqlite:///{old_database}")

    assert main(["--config", str(config), "db", "compact"]) == EXIT_OK

    out = capsys.readouterr().out
    assert f"compacted {old_database}: {before:,} -> {file_bytes(old_database):,} bytes" in out
    assert "(pages 4096 -> 16384 B)" in out
    assert file_bytes(old_database) < before
    assert sqlite_pragma(old_database, "freelist_count") == 0
    assert sqlite_pragma(old_database, "page_size") == 16384
    assert sqlite_pragma(old_database, "journal_mode") == "wal"
    with Store.open(f"sqlite:///{old_database}") as store:
        assert store.article_count() == 2
        assert store.find("Tashkent IT Park", now=NOW).total == 1
        assert store.find("solar Shymkent", now=NOW).total == 1


def test_compact_refuses_while_another_process_has_the_database_open(
    old_database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, f"sqlite:///{old_database}")
    with Store.open(f"sqlite:///{old_database}") as running:  # as `steppe run` keeps it
        assert running.article_count() == 2
        before = file_bytes(old_database)

        assert main(["--config", str(config), "db", "compact"]) == EXIT_DATABASE

        assert "in use by another process: stop steppe first" in capsys.readouterr().err
        assert sqlite_pragma(old_database, "journal_mode") == "wal"
        assert sqlite_pragma(old_database, "page_size") == 4096
        assert file_bytes(old_database) == before
        assert running.find("Tashkent IT Park", now=NOW).total == 1


def test_compact_points_postgresql_to_autovacuum(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Refused from the URL alone: no server is asked.
    config = write_config(tmp_path, "postgresql+psycopg://steppe@127.0.0.1:1/steppe")

    assert main(["--config", str(config), "db", "compact"]) == EXIT_USAGE

    assert "autovacuum" in capsys.readouterr().err
