"""A new user's whole /start flow, and coming back after blocking the bot."""

from __future__ import annotations

from datetime import time

from tests.botharness import BotWorld, world

__all__ = ["world"]

USER = 42


def test_new_user_is_subscribed_within_the_start_flow(world: BotWorld) -> None:
    world.api.add_user(USER, first_name="Aigerim", language_code="ru-RU")

    welcome = world.say(USER, "/start")
    assert "Aigerim" in welcome.text
    assert welcome.text.startswith("👋 Добро пожаловать")

    step = world.api.next_message(USER)
    assert step.text == world.t("ru", "step_topics")
    assert step.button_labels[:4] == [
        "✅ IT-хабы и стартапы",
        "✅ Энергетика",
        "✅ Политика",
        "✅ Общество",
    ]

    step = world.click(step, "Политика")  # untick
    step = world.click(step, "Общество")  # untick
    assert "✅ Политика" not in step.button_labels
    step = world.click(step, "Далее")
    assert step.text == world.t("ru", "step_countries")
    step = world.click(step, "Казахстан")
    step = world.click(step, "Далее")
    assert "Asia/Almaty" in step.text
    done = world.click(step, "07:00")
    assert done.text.startswith("✅ Готово!")
    assert "07:00 (Asia/Almaty)" in done.text
    assert done.buttons == []

    chat = world.store.chats.get(USER)
    assert chat is not None
    assert chat.language == "ru"
    assert chat.topics == ("it_hubs", "energy")
    assert chat.countries == ("uz", "kg", "tj", "tm", "az")
    assert chat.delivery_time == time(7, 0)
    assert chat.timezone == "Asia/Almaty"


def test_blocked_user_is_inactive_and_comes_back_on_start(world: BotWorld) -> None:
    world.api.add_user(USER)
    world.say(USER, "/start")
    world.api.next_message(USER)
    world.store.chats.update(USER, topics=["energy"], now=world.clock.now)

    world.api.block(USER)
    world.api.wait_for(lambda: not _active(world))
    assert world.store.chats.get(USER) is not None  # kept, not deleted

    world.api.unblock(USER)
    back = world.say(USER, "/start")
    assert back.text.startswith("👋 Welcome back")
    assert _active(world)
    chat = world.store.chats.get(USER)
    assert chat is not None
    assert chat.topics == ("energy",)


def _active(world: BotWorld) -> bool:
    chat = world.store.chats.get(USER)
    return chat is not None and chat.active
