"""Structured logs: one line per event with stable keys (logfmt or JSON), quiet by
default, and the bot token and database password never written — in log lines at
DEBUG (httpx's request lines included), in errors, in /stats."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from telegram import Bot

from bot.cli import main
from bot.fake_api import FakeBotApi
from bot.logs import NOISY_LOGGERS, configure_logging
from jobs.telemetry import log_event
from tests.botharness import OPERATOR, BotWorld, world

__all__ = ["world"]

TOKEN = "123456:AAExampleTokenThatMustNeverBeLogged"
PASSWORD = "pg-Passw0rd-never-logged"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in (*NOISY_LOGGERS, "steppe")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


def test_an_event_is_one_logfmt_line_with_stable_keys(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    log = logging.getLogger("jobs.collect")
    log_event(log, "collection_done", feeds=19, new=3, failed=1, error='HTTP 502 "Bad Gateway"')
    log_event(log, "feed_fetched", level=logging.DEBUG, feed="kun", new=2)  # quiet at INFO
    log.warning("a plain library line")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert re.fullmatch(
        r"ts=\S+Z?\S* level=info logger=jobs\.collect event=collection_done feeds=19 new=3 "
        r'failed=1 error="HTTP 502 \\"Bad Gateway\\""',
        lines[0],
    ), lines[0]
    assert lines[1].endswith('level=warning logger=jobs.collect msg="a plain library line"')


def test_debug_shows_the_per_feed_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("DEBUG")
    log_event(logging.getLogger("jobs.collect"), "feed_fetched", level=logging.DEBUG, feed="kun")
    assert "event=feed_fetched feed=kun" in capsys.readouterr().err


def test_json_lines_carry_the_same_keys(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", fmt="json")
    log = logging.getLogger("jobs.digest")
    log_event(log, "digest_sent", chat=-1001, edition="2026-11-20", messages=2)
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        log_event(log, "digest_failed", level=logging.ERROR, exc_info=True, chat=7)
    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert {k: first[k] for k in ("level", "logger", "event", "chat", "edition", "messages")} == {
        "level": "info",
        "logger": "jobs.digest",
        "event": "digest_sent",
        "chat": -1001,
        "edition": "2026-11-20",
        "messages": 2,
    }
    assert second["event"] == "digest_failed"
    assert "RuntimeError: boom" in second["exc"]


def test_a_traceback_stays_on_the_event_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        logging.getLogger("steppe").exception("run failed")
    [line] = capsys.readouterr().err.splitlines()
    assert 'msg="run failed" exc="Traceback' in line
    assert "ValueError: bad\\nvalue" in line


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_secrets_are_redacted_everywhere_in_a_line(
    fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("DEBUG", [TOKEN, PASSWORD], fmt=fmt)  # type: ignore[arg-type]
    log = logging.getLogger("steppe")
    log.debug("calling https://api.telegram.org/bot%s/getMe", TOKEN)
    log_event(log, "db_error", level=logging.DEBUG, url=f"postgresql://u:{PASSWORD}@db/x")
    try:
        raise ConnectionError(f"token {TOKEN} refused")
    except ConnectionError:
        log.exception("request failed")
    logged = capsys.readouterr().err
    assert len(logged.splitlines()) == 3
    assert TOKEN not in logged
    assert PASSWORD not in logged
    assert logged.count("***") >= 3


def test_httpx_request_lines_at_debug_hide_the_token(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeBotApi() as api:
        configure_logging("DEBUG", [api.token])
        for name in ("httpx", "httpcore"):  # they print every request URL (with the token)
            logging.getLogger(name).setLevel(logging.DEBUG)

        async def call() -> None:
            async with Bot(api.token, base_url=f"{api.base_url}/bot") as bot:
                await bot.get_me()

        asyncio.run(call())
    logged = capsys.readouterr().err
    assert "getMe" in logged
    assert api.token not in logged
    assert api.token.split(":")[1] not in logged


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_database_password_never_reaches_errors_or_logs(
    fmt: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'log_level = "DEBUG"\nlog_format = "{fmt}"\n', encoding="utf-8")
    # Nothing listens on port 1: the connection is refused and the CLI reports it.
    monkeypatch.setenv(
        "STEPPE_DATABASE_URL", f"postgresql+psycopg://steppe:{PASSWORD}@127.0.0.1:1/steppe"
    )
    monkeypatch.setenv("STEPPE_TELEGRAM_TOKEN", TOKEN)
    for command in (["db", "upgrade"], ["feeds"], ["db", "backup"], ["check-config"]):
        code = main(["--config", str(config), *command])
        out = capsys.readouterr()
        assert PASSWORD not in out.out + out.err, command
        assert TOKEN not in out.out + out.err, command
        if command != ["check-config"]:
            assert code == 3, command
            assert "database error" in out.err


def test_stats_shows_no_secret(world: BotWorld) -> None:
    world.api.add_user(OPERATOR)
    reply = world.say(OPERATOR, "/stats")
    assert reply.text
    assert world.api.token not in reply.text
    assert world.api.token.split(":")[1] not in reply.text
