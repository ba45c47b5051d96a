"""The catalogs: every key in every required language, with the same placeholders."""

from __future__ import annotations

import pytest

from bot.fake_api import parse_html
from bot.i18n import Html, Translator, load_catalogs, placeholders

REQUIRED = ("ru", "kk")
CATALOGS = load_catalogs()
REFERENCE = CATALOGS["en"].messages


@pytest.mark.parametrize("language", REQUIRED)
def test_every_key_is_translated(language: str) -> None:
    missing = sorted(set(REFERENCE) - set(CATALOGS[language].messages))
    extra = sorted(set(CATALOGS[language].messages) - set(REFERENCE))
    assert (missing, extra) == ([], [])


def test_uzbek_has_at_least_the_welcome_and_nothing_unknown() -> None:
    uzbek = CATALOGS["uz"].messages
    assert {"welcome", "language_name"} <= set(uzbek)
    assert set(uzbek) <= set(REFERENCE)


@pytest.mark.parametrize("language", ["ru", "kk", "uz"])
def test_placeholders_agree_with_english(language: str) -> None:
    differing = {
        key: (placeholders(REFERENCE[key]), placeholders(text))
        for key, text in CATALOGS[language].messages.items()
        if placeholders(text) != placeholders(REFERENCE[key])
    }
    assert differing == {}


@pytest.mark.parametrize("language", ["en", "ru", "kk", "uz"])
def test_every_message_is_valid_telegram_html(language: str) -> None:
    t = Translator(CATALOGS)
    for key, template in CATALOGS[language].messages.items():
        values = dict.fromkeys(placeholders(template), "x")
        assert parse_html(t.text(language, key, **values)).strip(), key


def test_values_are_escaped_unless_marked_html() -> None:
    t = Translator(CATALOGS)
    text = t.text("en", "find_nothing", query="<b>solar</b> & wind")
    assert parse_html(text) == "Nothing found for “<b>solar</b> & wind”."
    assert t.text("en", "also_in", outlets=Html("<i>Kun.uz</i>")) == "also in <i>Kun.uz</i>"


def test_telegram_language_codes_pick_a_catalog_with_english_fallback() -> None:
    t = Translator(CATALOGS)
    assert [t.pick(code) for code in ("ru-RU", "kk", "uz", "de", None, "")] == [
        "ru",
        "kk",
        "uz",
        "en",
        "en",
        "en",
    ]
    assert t.text("uz", "help") == t.text("en", "help")  # partial catalog falls back
