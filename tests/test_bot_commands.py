"""Each settings command, with buttons and with arguments, and what bad input gets."""

from __future__ import annotations

from datetime import time

import pytest

from tests.botharness import BotWorld, world

__all__ = ["world"]

USER = 42


@pytest.fixture
def started(world: BotWorld) -> BotWorld:
    world.api.add_user(USER, language_code="en")
    world.say(USER, "/start")
    world.api.next_message(USER)  # the first set-up step
    return world


def test_time_and_timezone_by_argument(started: BotWorld) -> None:
    assert started.say(USER, "/time 7:30").text == "Delivery time: 07:30 (Asia/Almaty)."
    reply = started.say(USER, "/timezone asia/tashkent")
    assert reply.text == "Time zone: Asia/Tashkent. The digest comes at 07:30 there."
    chat = started.store.chats.get(USER)
    assert chat is not None
    assert (chat.delivery_time, chat.timezone) == (time(7, 30), "Asia/Tashkent")


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/time 25:99", "“25:99” is not a time."),
        ("/time soon", "“soon” is not a time."),
        ("/timezone Mars/Olympus", "“Mars/Olympus” is not a time zone I know."),
        ("/timezone ../../etc/passwd", "“../../etc/passwd” is not a time zone I know."),
        ("/language tlh", "I don't speak “tlh”."),
        ("/frobnicate", "I don't know that command."),
    ],
)
def test_bad_arguments_get_a_clear_reply_and_change_nothing(
    started: BotWorld, command: str, expected: str
) -> None:
    before = started.store.chats.get(USER)
    assert started.say(USER, command).text.startswith(expected)
    assert started.store.chats.get(USER) == before


def test_time_timezone_and_language_buttons(started: BotWorld) -> None:
    menu = started.say(USER, "/time")
    assert started.click(menu, "18:00").text == "Delivery time: 18:00 (Asia/Almaty)."
    menu = started.say(USER, "/timezone")
    assert "✅ Asia/Almaty" in menu.button_labels
    assert started.click(menu, "Asia/Baku").text.startswith("Time zone: Asia/Baku.")
    menu = started.say(USER, "/language")
    assert menu.button_labels == ["✅ English", "Русский", "Қазақша", "O‘zbekcha"]
    assert started.click(menu, "Қазақша").text == "Тіл: қазақша."
    assert started.say(USER, "/help").text.startswith("Steppe Digest: Орталық Азияның")


def test_topics_and_countries_keep_at_least_one(started: BotWorld) -> None:
    started.store.chats.update(USER, topics=["energy"], now=started.clock.now)
    menu = started.say(USER, "/topics")
    query = started.api.click(menu, "✅ Energy")
    assert started.api.callback_answer(query)["text"] == "Keep at least one topic."
    menu = started.click(menu, "Policy")
    assert started.click(menu, "Done").text == "Topics: Energy, Policy."
    menu = started.say(USER, "/countries")
    menu = started.click(menu, "Kazakhstan")  # untick one of all
    assert "✅ All countries" not in menu.button_labels
    menu = started.click(menu, "All countries")
    assert started.click(menu, "Done").text == "Countries: all countries."


def test_settings_shows_everything(started: BotWorld) -> None:
    started.say(USER, "/time 06:45")
    text = started.say(USER, "/settings").text
    assert text == (
        "Settings\nTopics: IT hubs & startups, Energy, Policy, Society\nCountries: all countries\n"
        "Delivery: every day at 06:45 (Asia/Almaty)\nLanguage: English\nStatus: active"
    )


def test_pause_resume(started: BotWorld) -> None:
    assert started.say(USER, "/pause").text.startswith("⏸ Paused")
    chat = started.store.chats.get(USER)
    assert chat is not None
    assert chat.paused
    assert started.say(USER, "/resume").text.startswith("▶️ Resumed: the next digest comes at 08:00")


def test_stop_deletes_only_after_confirmation(started: BotWorld) -> None:
    confirm = started.say(USER, "/stop")
    assert started.click(confirm, "No, keep them").text == "Nothing was deleted."
    assert started.store.chats.get(USER) is not None
    confirm = started.say(USER, "/stop")
    assert started.click(confirm, "Yes, delete").text.startswith("Deleted.")
    assert started.store.chats.get(USER) is None
    assert started.say(USER, "/topics").text == "This chat is not set up yet: send /start."


@pytest.mark.parametrize("data", ["tp:s:weather", "zz:s:1", "tz:s:Mars/Olympus", "x" * 64, "st:o:"])
def test_forged_buttons_are_refused_and_change_nothing(started: BotWorld, data: str) -> None:
    before = started.store.chats.get(USER)
    menu = started.say(USER, "/settings")
    query = started.api.press(USER, menu.message_id, data)
    assert started.api.callback_answer(query)["text"] == "This button is out of date."
    assert started.store.chats.get(USER) == before


def test_buttons_of_a_deleted_chat_do_nothing(started: BotWorld) -> None:
    menu = started.say(USER, "/topics")
    started.store.chats.delete(USER)
    query = started.api.click(menu, "Energy")
    assert started.api.callback_answer(query)["text"] == "This chat is not set up yet: send /start."
    assert started.store.chats.get(USER) is None
