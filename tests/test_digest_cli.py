"""``steppe digest --preview`` and ``steppe dispatch --once``, in-process, real servers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.cli import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, main
from bot.fake_api import FakeBotApi
from storage import Store
from storage.records import Opening, SchedulePlan
from tests.digestharness import add_articles, add_chat


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _config(tmp_path: Path, database_url: str, api: FakeBotApi | None = None) -> Path:
    telegram = (
        f'[telegram]\ntoken = "{api.token}"\napi_base_url = "{api.base_url}"\n' if api else ""
    )
    path = tmp_path / "config.toml"
    path.write_text(
        f'data_dir = "state"\n[database]\nurl = "{database_url}"\n{telegram}', encoding="utf-8"
    )
    return path


def test_preview_prints_the_next_digest_without_sending_it(
    tmp_path: Path, database_url: str, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    with FakeBotApi() as api:
        add_chat(api, store, 7, now=now)
        add_articles(store, ["Solar <plant> opens"], now=now)
        config = _config(tmp_path, database_url)
        assert main(["--config", str(config), "digest", "--preview", "7"]) == EXIT_OK
        assert api.messages(7) == []
    out = capsys.readouterr().out
    assert "📰 Steppe Digest ·" in out
    assert "1. Solar <plant> opens" in out
    assert store.deliveries.of_chat(7) == []
    assert main(["--config", str(config), "digest", "--preview", "8"]) == EXIT_PROBLEMS


def test_dispatch_once_sends_what_is_due_and_exits(
    tmp_path: Path, database_url: str, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    with FakeBotApi() as api:
        add_chat(api, store, 7, now=now)
        add_chat(api, store, 8, now=now)
        due = now - timedelta(minutes=1)
        day = due.astimezone(ZoneInfo("Asia/Almaty")).date()
        store.deliveries.apply(
            [SchedulePlan(7, None, now + timedelta(days=1), (Opening(day, due),))], now=now
        )
        config = _config(tmp_path, database_url, api)
        assert main(["--config", str(config), "dispatch", "--once"]) == EXIT_OK
        assert len(api.messages(7)) == 1
        assert api.messages(8) == []  # planned for its own 08:00, not sent now
        assert main(["--config", str(config), "dispatch", "--once"]) == EXIT_OK
        assert len(api.messages(7)) == 1
    out = capsys.readouterr().out
    assert "digests: 1 sent" in out
    assert "digests: 0 sent" in out


def test_dispatch_needs_a_token(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, database_url)
    assert main(["--config", str(config), "dispatch", "--once"]) == EXIT_USAGE
    assert "telegram.token" in capsys.readouterr().err


def test_run_as_a_bot_needs_a_token(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, database_url)
    assert main(["--config", str(config), "run", "--role", "bot"]) == EXIT_USAGE
    assert "needed for --role bot" in capsys.readouterr().err


def test_only_one_worker_collects_at_a_time(database_url: str, store: Store) -> None:
    other = Store.open(database_url, upgrade=False)
    try:
        with store.exclusive("collect") as first:
            assert first
            with other.exclusive("collect") as second:
                # PostgreSQL: an advisory lock, held by the first; SQLite: one host.
                assert second is (store.url.startswith("sqlite"))
        with other.exclusive("collect") as after:
            assert after  # released with the block
    finally:
        other.close()
