"""``steppe db backup``: a consistent copy of the SQLite archive while it is in use,
which restores to a database with the same articles; PostgreSQL is pointed to pg_dump."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from storage import ArticleInput, Classification, FeedSpec, Store
from tests.conftest import backend

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
FEED = FeedSpec("times", "The Astana Times", "https://t.example/rss", "en", "kz")


def add_articles(store: Store, titles: list[str]) -> None:
    store.sync_feeds([FEED], now=NOW)
    [feed] = store.feed_states()
    store.save_articles(
        feed.id,
        [
            (
                ArticleInput(
                    guid=title,
                    url=f"https://t.example/{hashlib.sha256(title.encode()).hexdigest()[:12]}",
                    title=title,
                    summary=f"{title}. Details follow.",
                    content="",
                    language="en",
                    published_at=NOW - timedelta(minutes=n),
                    content_hash=hashlib.sha256(title.encode()).hexdigest(),
                    classification=Classification(topics={"energy": 0.7}, countries=["kz"]),
                ),
                None,
            )
            for n, title in enumerate(titles)
        ],
        [],
        now=NOW,
    )


def titles_of(store: Store) -> list[str]:
    return sorted(a.title for a in store.iter_article_texts())


def write_config(tmp_path: Path, database_url: str) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f'data_dir = "{(tmp_path / "data").as_posix()}"\n[database]\nurl = "{database_url}"\n',
        encoding="utf-8",
    )
    return config


@pytest.mark.skipif(backend() != "sqlite", reason="SQLite's online backup")
def test_a_backup_taken_while_a_writer_is_busy_restores_the_same_articles(
    store: Store, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_articles(store, ["Solar plant opens in Shymkent", "Tashkent IT Park grows", "Grid"])
    # Another process is in the middle of a write that it has not committed.
    writer = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE articles SET title = 'half-written' WHERE guid = 'Grid'")
    try:
        target = tmp_path / "copies" / "steppe-backup.db"
        code = main(
            ["--config", str(write_config(tmp_path, database_url)), "db", "backup", str(target)]
        )
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    out = capsys.readouterr().out
    assert code == 0
    assert f"backup written: {target}" in out
    assert "3 articles" in out
    # Restore: the copy opens as a database at the current schema with the same articles.
    with Store.open(f"sqlite:///{target}", upgrade=False) as restored:
        assert titles_of(restored) == titles_of(store)
        assert "half-written" not in titles_of(restored)
        assert restored.find("solar", now=NOW).total == 1


@pytest.mark.skipif(backend() != "sqlite", reason="SQLite's online backup")
def test_the_default_backup_goes_to_the_data_directory(
    store: Store, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_articles(store, ["One", "Two"])
    config = write_config(tmp_path, database_url)
    assert main(["--config", str(config), "db", "backup"]) == 0
    [copy] = (tmp_path / "data" / "backups").glob("steppe-*.db")
    with Store.open(f"sqlite:///{copy}", upgrade=False) as restored:
        assert restored.article_count() == 2
    assert "2 articles" in capsys.readouterr().out


@pytest.mark.skipif(backend() != "postgresql", reason="the refusal is PostgreSQL's")
def test_postgresql_is_refused_with_a_pointer_to_pg_dump(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, database_url)
    assert main(["--config", str(config), "db", "backup", str(tmp_path / "x.db")]) == 2
    err = capsys.readouterr().err
    assert "pg_dump" in err
    assert not (tmp_path / "x.db").exists()
