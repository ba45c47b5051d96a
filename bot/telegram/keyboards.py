"""The inline keyboards, built from a chat's settings in its language."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import Translator
from bot.telegram import callbacks as cb
from bot.telegram.choices import COUNTRIES, TIME_PRESETS, TIMEZONE_PRESETS, TOPICS, format_time
from storage.records import ChatSettings

_CHECK = "✅ "


def _button(label: str, action: str, mode: str, value: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=cb.encode(action, mode, value))


def _rows(buttons: Sequence[InlineKeyboardButton], width: int) -> list[list[InlineKeyboardButton]]:
    return [list(buttons[i : i + width]) for i in range(0, len(buttons), width)]


def _footer(t: Translator, chat: ChatSettings, mode: str, step: str) -> InlineKeyboardButton:
    """ "Next" during the set-up, "Done" for a single setting; the data names the step."""
    label = "button_next" if mode == cb.SETUP else "button_done"
    return _button(t.text(chat.language, label), cb.NEXT, mode, step)


def topics(t: Translator, chat: ChatSettings, mode: str) -> InlineKeyboardMarkup:
    buttons = [
        _button(
            (_CHECK if topic in chat.topics else "") + t.text(chat.language, f"topic_{topic}"),
            cb.TOPIC,
            mode,
            topic,
        )
        for topic in TOPICS
    ]
    return InlineKeyboardMarkup([*_rows(buttons, 2), [_footer(t, chat, mode, "topics")]])


def countries(t: Translator, chat: ChatSettings, mode: str) -> InlineKeyboardMarkup:
    buttons = [
        _button(
            (_CHECK if c in chat.countries else "") + t.text(chat.language, f"country_{c}"),
            cb.COUNTRY,
            mode,
            c,
        )
        for c in COUNTRIES
    ]
    every = len(chat.countries) == len(COUNTRIES)
    all_button = _button(
        (_CHECK if every else "") + t.text(chat.language, "button_all_countries"),
        cb.COUNTRY,
        mode,
        "all",
    )
    return InlineKeyboardMarkup(
        [*_rows(buttons, 2), [all_button], [_footer(t, chat, mode, "countries")]]
    )


def times(chat: ChatSettings, mode: str) -> InlineKeyboardMarkup:
    buttons = [
        _button(
            (_CHECK if preset == chat.delivery_time else "") + format_time(preset),
            cb.TIME,
            mode,
            format_time(preset),
        )
        for preset in TIME_PRESETS
    ]
    return InlineKeyboardMarkup(_rows(buttons, 3))


def timezones(chat: ChatSettings) -> InlineKeyboardMarkup:
    buttons = [
        _button((_CHECK if zone == chat.timezone else "") + zone, cb.TIMEZONE, cb.SINGLE, zone)
        for zone in TIMEZONE_PRESETS
    ]
    return InlineKeyboardMarkup(_rows(buttons, 2))


def languages(t: Translator, chat: ChatSettings) -> InlineKeyboardMarkup:
    buttons = [
        _button(
            (_CHECK if code == chat.language else "") + t.text(code, "language_name"),
            cb.LANGUAGE,
            cb.SINGLE,
            code,
        )
        for code in t.languages
    ]
    return InlineKeyboardMarkup(_rows(buttons, 2))


def stop(t: Translator, language: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                _button(t.text(language, "button_stop_yes"), cb.STOP, cb.SINGLE, "yes"),
                _button(t.text(language, "button_stop_no"), cb.STOP, cb.SINGLE, "no"),
            ]
        ]
    )


def more_results(t: Translator, language: str, page: str) -> InlineKeyboardMarkup:
    """The "more" button of a ``/find`` page; ``page`` says which (see the handler)."""
    return InlineKeyboardMarkup(
        [[_button(t.text(language, "button_more"), cb.FIND, cb.SINGLE, page)]]
    )
