"""The configuration file: defaults, environment overrides and precise errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import (
    DATABASE_URL_ENV,
    TOKEN_ENV,
    ConfigError,
    Settings,
    default_config_path,
    load_config,
)
from bot.wiring import collect_settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"

FEED = """
[[feeds]]
key = "kursiv"
name = "Kursiv"
url = "https://kz.kursiv.media/feed/"
language = "ru"
country = "kz"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_is_valid_and_ships_a_regional_source_list() -> None:
    settings = load_config(EXAMPLE, environ={})
    assert len(settings.feeds) >= 15
    assert {feed.country for feed in settings.feeds} == {"kz", "uz", "kg", "tj", "az", "tm"}
    assert {feed.language for feed in settings.feeds} >= {"en", "ru"}
    assert all(feed.url.startswith("https://") for feed in settings.feeds)


def test_example_documents_the_defaults_of_every_section() -> None:
    """The example's values are the built-in defaults: editing nothing changes nothing."""
    example = load_config(EXAMPLE, environ={})
    defaults = Settings()
    assert example.collection == defaults.collection
    assert example.telegram == defaults.telegram
    assert example.log_level == defaults.log_level
    assert example.classifier == defaults.classifier


def test_relative_data_dir_is_resolved_against_the_file(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, 'data_dir = "state"\n' + FEED), environ={})
    assert settings.data_dir == tmp_path / "state"
    assert settings.database_url == f"sqlite:///{(tmp_path / 'state' / 'steppe.db').as_posix()}"


def test_environment_overrides_token_and_database_url(tmp_path: Path) -> None:
    path = write(tmp_path, '[telegram]\ntoken = "from-file"\n' + FEED)
    settings = load_config(
        path,
        environ={TOKEN_ENV: "123:from-env", DATABASE_URL_ENV: "postgresql+psycopg://u@h/db"},
    )
    assert settings.telegram.token.get_secret_value() == "123:from-env"
    assert settings.database_url == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("[collection]\ninterval_minutes = 0\n", "collection.interval_minutes", "greater than"),
        ("[collection]\nintervl_minutes = 5\n", "collection.intervl_minutes", "unknown setting"),
        ('log_level = "LOUD"\n', "log_level", "'LOUD'"),
        (FEED.replace('"ru"', '"de"'), "feeds[0].language", "'de'"),
        (FEED.replace("https://kz", "ftp://kz"), "feeds[0].url", "http:// or https://"),
        (FEED.replace('"kursiv"', '"Kursiv Media"', 1), "feeds[0].key", "pattern"),
        (FEED + FEED, "feeds[1].key", "already used by feeds[0]"),
        ("[collection]\nkeep_days = 3\n", "collection.keep_days", "0 (keep every article) or at"),
        ("[collection]\nkeep_days = -1\n", "collection.keep_days", "greater than or equal"),
        (
            "[collection]\nmax_refresh_hint_hours = -1\n",
            "collection.max_refresh_hint_hours",
            "greater than or equal",
        ),
        (
            "[collection]\nmax_refresh_hint_hours = 48\n",
            "collection.max_refresh_hint_hours",
            "less than or equal to 24",
        ),
    ],
)
def test_bad_values_name_the_file_key_and_reason(
    tmp_path: Path, text: str, key: str, reason: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert caught.value.file == str(path)
    assert caught.value.key == key
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{path}: {key}: ")


def test_broken_toml_reports_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[collection]\ninterval_minutes = \n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert "not valid TOML" in caught.value.reason
    assert "line 2" in caught.value.reason


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml", environ={})


def test_a_bad_database_url_is_not_echoed_back(tmp_path: Path) -> None:
    path = write(tmp_path, "[database]\nurl = 42\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert caught.value.key == "database.url"
    assert "42" not in str(caught.value)


def test_default_path_prefers_local_config(tmp_path: Path) -> None:
    assert default_config_path(tmp_path) == EXAMPLE
    write(tmp_path, FEED)
    assert default_config_path(tmp_path) == tmp_path / "config.toml"


def test_keep_days_becomes_the_collectors_retention(tmp_path: Path) -> None:
    assert collect_settings(load_config(write(tmp_path, FEED), environ={})).keep is None
    kept = load_config(write(tmp_path, "[collection]\nkeep_days = 30\n" + FEED), environ={})
    assert collect_settings(kept).keep == timedelta(days=30)


def test_max_refresh_hint_hours_becomes_the_collectors_ceiling(tmp_path: Path) -> None:
    default = collect_settings(load_config(write(tmp_path, FEED), environ={}))
    assert default.max_refresh_hint == timedelta(hours=2)
    text = "[collection]\nmax_refresh_hint_hours = 0\n" + FEED
    off = load_config(write(tmp_path, text), environ={})
    assert collect_settings(off).max_refresh_hint == timedelta(0)
