"""The catalogs: every key in every language, with the same placeholders, markup,
commands and lines as English."""

from __future__ import annotations

import re

import pytest

from bot.fake_api import parse_html
from bot.i18n import Catalog, Html, Translator, load_catalogs, placeholders

TRANSLATIONS = ("ru", "kk", "uz")
CATALOGS = load_catalogs()
REFERENCE = CATALOGS["en"].messages
# Tags and entities must come in the same order; Telegram commands (a slash not inside a
# word, so "Asia/Tashkent" is not one) are never translated.
_MARKUP = re.compile(r"</?[a-z]+[^>]*>|&#?\w+;")
_COMMAND = re.compile(r"(?<![\w/])/[a-z_]+")


@pytest.mark.parametrize("language", TRANSLATIONS)
def test_every_key_is_translated(language: str) -> None:
    missing = sorted(set(REFERENCE) - set(CATALOGS[language].messages))
    extra = sorted(set(CATALOGS[language].messages) - set(REFERENCE))
    assert (missing, extra) == ([], [])


def _shape(template: str) -> tuple[frozenset[str], list[str], list[str], int]:
    """What a translation must keep: placeholders, markup in order, commands, lines."""
    return (
        placeholders(template),
        _MARKUP.findall(template),
        sorted(_COMMAND.findall(template)),
        template.count("\n"),
    )


@pytest.mark.parametrize("language", TRANSLATIONS)
def test_placeholders_markup_and_commands_agree_with_english(language: str) -> None:
    differing = {
        key: (_shape(REFERENCE[key]), _shape(text))
        for key, text in CATALOGS[language].messages.items()
        if _shape(text) != _shape(REFERENCE[key])
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


def test_a_key_missing_from_a_catalog_falls_back_to_english() -> None:
    partial = Catalog("uz", {"language_name": CATALOGS["uz"].messages["language_name"]})
    t = Translator({"en": CATALOGS["en"], "uz": partial})
    assert t.text("uz", "language_name") == "O‘zbekcha"
    assert t.text("uz", "help") == t.text("en", "help")
    assert not t.has("uz", "help")
