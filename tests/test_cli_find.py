"""``steppe find`` and ``steppe reindex``: the operator's view of search."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import EXIT_OK, EXIT_USAGE, main
from storage import Store
from tests.test_cli import _restore_logging, write_config
from tests.test_search import DOCS, load

__all__ = ["_restore_logging"]  # the autouse fixture, shared with test_cli


@pytest.fixture
def config(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STEPPE_DATABASE_URL", database_url)
    with Store.open(database_url, upgrade=False) as store:
        load(store)
    return write_config(tmp_path, "")


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


def test_find_prints_ranked_results_with_everything_a_reader_needs(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, "find", "IT-хабы", "country:uz") == EXIT_OK
    out = capsys.readouterr().out
    assert "results 1-1 of 1" in out
    assert "1. В Ташкенте открылись два новых [IT-хаба]" in out
    assert "Kursiv · 2026-11-20 · it_hubs · uz" in out
    assert "[IT-хабы] будут работать" in out
    assert "https://news.example/tashkent-hubs" in out


def test_find_pages(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "find", "topic:it_hubs", "--limit", "3") == EXIT_OK
    first = capsys.readouterr().out
    assert "results 1-3 of 4" in first
    assert run(config, "find", "topic:it_hubs", "--limit", "3", "--page", "2") == EXIT_OK
    second = capsys.readouterr().out
    assert "results 4-4 of 4" in second
    assert run(config, "find", "topic:it_hubs", "--limit", "3", "--page", "3") == EXIT_OK
    assert "no more results: 4 in all" in capsys.readouterr().out


def test_find_explains_what_it_ignored_and_what_it_could_not_do(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, "find", "zanzibar", "topic:sport") == EXIT_OK
    out = capsys.readouterr().out
    assert "note: ignored topic:sport" in out
    assert "nothing found" in out
    assert run(config, "find", "x" * 4096) == EXIT_USAGE
    assert "query too long" in capsys.readouterr().out
    assert run(config, "find", "--", "-hub") == EXIT_USAGE
    assert "nothing to search for" in capsys.readouterr().out


def test_find_refuses_a_bad_limit(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(config, "find", "hub", "--limit", "0")
    assert exit_info.value.code == EXIT_USAGE
    assert "positive whole number" in capsys.readouterr().err


def test_reindex_rebuilds_the_whole_archive(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, "reindex") == EXIT_OK
    assert f"search index rebuilt: {len(DOCS)} articles" in capsys.readouterr().out
    assert run(config, "find", "Qazaqstan") == EXIT_OK
    assert "[Qazaqstan] spelling" in capsys.readouterr().out
