"""The ``steppe`` command line, run in-process against real files and servers."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli import EXIT_DATABASE, EXIT_OK, EXIT_USAGE, main
from bot.wiring import TEST_CLOCK_VARIABLE
from tests.feedserver import FeedServer
from tests.test_collect import HUB_EN, SOLAR_EN, T0, rss


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def write_config(tmp_path: Path, feeds: str, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'data_dir = "state"\n{extra}\n{feeds}', encoding="utf-8")
    return path


def feed_block(key: str, url: str) -> str:
    return (
        f'[[feeds]]\nkey = "{key}"\nname = "{key.title()}"\nurl = "{url}"\n'
        'language = "en"\ncountry = "kz"\n'
    )


def test_check_config_describes_the_file_and_hides_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEPPE_TELEGRAM_TOKEN", "123456:very-secret-token")
    monkeypatch.setenv("STEPPE_DATABASE_URL", "postgresql+psycopg://app:hunter22@db/steppe")
    config = write_config(tmp_path, feed_block("astana", "https://astana.example/feed"))

    assert main(["--config", str(config), "check-config"]) == EXIT_OK

    out = capsys.readouterr().out
    assert f"configuration OK: {config}" in out
    assert "telegram token   set" in out
    assert "collect every    30 min (longer when a feed asks, up to 2 h)" in out
    assert "astana" in out
    assert "very-secret-token" not in out
    assert "hunter22" not in out


def test_bad_config_stops_with_file_key_and_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, "", extra="[collection]\nmax_redirects = -1\n")

    assert main(["--config", str(config), "collect", "--once"]) == EXIT_USAGE

    err = capsys.readouterr().err
    assert f"{config}: collection.max_redirects:" in err


def test_bad_classifier_override_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, "", extra="[classifier.topics.weather]\nmin_score = 0.5\n")

    assert main(["--config", str(config), "check-config"]) == EXIT_USAGE

    assert "classifier.topics.weather" in capsys.readouterr().err


def test_classify_reads_json_lines_and_keeps_going_after_a_bad_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [
        json.dumps({"title": HUB_EN[2], "text": HUB_EN[3]}),
        "{not json",
        json.dumps({"title": SOLAR_EN[2], "text": SOLAR_EN[3], "language": "en"}),
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    config = write_config(tmp_path, "")

    assert main(["--config", str(config), "classify"]) == EXIT_OK

    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 3
    assert "it_hubs" in rows[0]["topics"]
    assert set(rows[0]["scores"]) == {"it_hubs", "energy", "policy", "society"}
    assert "error" in rows[1]
    assert "energy" in rows[2]["topics"]
    assert "uz" in rows[2]["countries"]


def test_collect_once_prints_a_report_and_exits_zero_when_feeds_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FeedServer() as server:
        server.route("/good.xml", body=rss([HUB_EN, SOLAR_EN]))
        server.route("/bad.xml", body=b"oops", status=500)
        config = write_config(
            tmp_path,
            feed_block("good", server.url("/good.xml")) + feed_block("bad", server.url("/bad.xml")),
            extra="[collection]\nretries = 0\n",
        )
        assert main(["--config", str(config), "collect", "--once"]) == EXIT_OK

    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line}
    assert lines["good"].split()[1:4] == ["fetched", "2", "0"]
    assert "failed" in lines["bad"]
    assert "500" in lines["bad"]
    assert "2 feeds: 2 new, 0 updated, 1 failed" in out
    assert (tmp_path / "state" / "steppe.db").is_file()

    assert main(["--config", str(config), "feeds"]) == EXIT_OK
    listing = capsys.readouterr().out
    assert "good" in listing
    assert "500" in listing


def test_collect_once_reports_what_keep_days_left_out_and_deleted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with FeedServer() as server:
        # The second fetch brings both entries again, ten days after they were published.
        server.route("/feed.xml", bodies=[rss([HUB_EN]), rss([HUB_EN, SOLAR_EN])])
        config = write_config(
            tmp_path,
            feed_block("astana", server.url("/feed.xml")),
            extra="[collection]\nkeep_days = 7\n",
        )
        monkeypatch.setenv(TEST_CLOCK_VARIABLE, T0.isoformat())
        assert main(["--config", str(config), "collect", "--once"]) == EXIT_OK
        assert "1 feeds: 1 new" in capsys.readouterr().out

        monkeypatch.setenv(TEST_CLOCK_VARIABLE, (T0 + timedelta(days=10)).isoformat())
        assert main(["--config", str(config), "collect", "--once"]) == EXIT_OK

    out = capsys.readouterr().out
    [astana] = [line for line in out.splitlines() if line.startswith("astana")]
    assert astana.split()[1:3] == ["fetched", "0"]
    assert "2 entries past keep_days not stored" in astana
    assert "1 article past keep_days deleted" in out


def test_collect_once_says_when_an_outlet_asked_to_wait_longer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with FeedServer() as server:
        server.route(
            "/slow.xml", body=rss([HUB_EN]), headers={"Cache-Control": "public, max-age=5400"}
        )
        server.route("/usual.xml", body=rss([SOLAR_EN]), headers={"Cache-Control": "no-cache"})
        config = write_config(
            tmp_path,
            feed_block("slow", server.url("/slow.xml"))
            + feed_block("usual", server.url("/usual.xml")),
        )
        monkeypatch.setenv(TEST_CLOCK_VARIABLE, T0.isoformat())
        assert main(["--config", str(config), "collect", "--once"]) == EXIT_OK

    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line}
    later = (T0 + timedelta(minutes=90)).strftime("%Y-%m-%d %H:%M")
    assert lines["slow"].endswith(f"the outlet asks to wait 90 min: next fetch {later}")
    assert "asks to wait" not in lines["usual"]


def test_collect_once_says_when_a_feed_has_moved_for_good(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FeedServer() as server:
        server.route("/feed/", body=rss([HUB_EN]))
        server.route("/rss.xml", status=301, redirect_to="/feed/")
        config = write_config(tmp_path, feed_block("astana", server.url("/rss.xml")))
        assert main(["--config", str(config), "collect", "--once"]) == EXIT_OK
        moved_to = server.url("/feed/")

    [astana] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("astana")]
    assert astana.split()[1:3] == ["fetched", "1"]
    assert astana.endswith(f"moved permanently to {moved_to}: update its url")


def test_collect_once_rejects_an_unknown_feed_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, feed_block("astana", "https://astana.example/feed"))

    assert main(["--config", str(config), "collect", "--once", "--feed", "nope"]) == EXIT_USAGE
    assert "nope" in capsys.readouterr().err


def test_db_upgrade_then_check_finds_no_drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, "")

    assert main(["--config", str(config), "db", "upgrade"]) == EXIT_OK
    assert main(["--config", str(config), "db", "check"]) == EXIT_OK
    assert "matches the models" in capsys.readouterr().out


def test_unreachable_database_exits_3_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEPPE_DATABASE_URL", "postgresql+psycopg://app:hunter22@127.0.0.1:1/x")
    config = write_config(tmp_path, "")

    assert main(["--config", str(config), "db", "upgrade"]) == EXIT_DATABASE

    err = capsys.readouterr().err
    assert "database error" in err
    assert "hunter22" not in err
