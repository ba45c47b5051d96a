"""Running the bot: the command menu, flood control, logs without the token, long
messages, and the operators' /stats and /collect."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

import pytest

from bot.fake_api import Fault
from bot.logs import configure_logging
from bot.telegram.app import MENU
from storage import ArticleInput, Classification, FeedSpec
from tests.botharness import NOW, OPERATOR, BotWorld, world

__all__ = ["world"]

USER = 42


def test_the_command_menu_is_registered_per_language(world: BotWorld) -> None:
    english = world.api.commands()
    assert [c["command"] for c in english] == list(MENU)
    assert english[0]["description"] == "Set up the digest"
    assert world.api.commands(language_code="ru")[0]["description"] == "Настроить дайджест"
    assert world.api.commands(language_code="kk")[0]["description"] == "Дайджестті баптау"
    uzbek = world.api.commands(language_code="uz")
    assert [c["command"] for c in uzbek] == list(MENU)
    assert uzbek[0]["description"] == "Dayjestni sozlash"


def test_flood_control_is_waited_out(world: BotWorld) -> None:
    world.api.add_user(USER)
    world.api.fail(
        Fault("sendMessage", error_code=429, description="Too Many Requests", retry_after=1)
    )
    assert world.say(USER, "/help").text.startswith("Steppe Digest")
    assert len(world.api.calls("sendMessage")) == 2


def test_a_server_error_is_logged_and_the_user_told(
    world: BotWorld, caplog: pytest.LogCaptureFixture
) -> None:
    world.api.add_user(USER)
    world.api.fail(Fault("sendMessage", error_code=500, description="Internal Server Error"))
    with caplog.at_level(logging.ERROR):
        reply = world.say(USER, "/help")
    assert reply.text == world.t("en", "error_generic")
    assert "while handling an update" in caplog.text


def test_the_token_never_reaches_the_logs(
    world: BotWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("DEBUG", [world.api.token])
    for name in ("httpx", "httpcore"):  # the loudest about URLs, which hold the token
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        world.api.add_user(USER)
        world.say(USER, "/help")
        world.api.fail(Fault("sendMessage", error_code=500))
        world.say(USER, "/help")
    finally:
        logging.getLogger().handlers.clear()
        logging.getLogger().setLevel(logging.WARNING)
    logged = capsys.readouterr().err
    assert "sendMessage" in logged
    assert world.api.token not in logged
    assert world.api.token.split(":")[1] not in logged


def test_long_lists_fit_in_one_message(world: BotWorld) -> None:
    world.store.sync_feeds([FeedSpec("f", "Outlet", "https://f.example/rss", "en", "kz")], now=NOW)
    [feed] = world.store.feed_states()
    articles = [
        ArticleInput(
            guid=f"g{n}",
            url=f"https://f.example/{n}",
            title=f"{n} " + "Very long headline about energy & <markup> " * 8,
            summary="s",
            content="",
            language="en",
            published_at=NOW - timedelta(minutes=n),
            content_hash=hashlib.sha256(str(n).encode()).hexdigest(),
            classification=Classification(topics={"energy": 1.0}, countries=["kz"]),
        )
        for n in range(60)
    ]
    world.store.save_articles(feed.id, [(a, None) for a in articles], [], now=NOW)
    world.api.add_user(USER)
    world.say(USER, "/start")
    world.api.next_message(USER)
    digest = world.say(USER, "/digest")
    assert len(digest.text) <= 4096
    # The digest keeps five stories per topic, each title shortened whole.
    assert "\n5. 4 Very long" in digest.text
    assert "\n6. " not in digest.text


def test_operators_get_stats_and_collect(world: BotWorld) -> None:
    world.api.add_user(USER)
    world.api.add_user(OPERATOR)
    world.say(USER, "/start")
    world.api.next_message(USER)
    assert world.say(USER, "/stats").text == "This command is for the bot's operators."
    assert world.say(USER, "/collect").text == "This command is for the bot's operators."
    assert world.collections == []
    stats = world.say(OPERATOR, "/stats").text
    assert stats.startswith("Stats\nChats: 1 (1 active, 0 paused)")
    assert "Last collection: never" in stats
    assert world.say(OPERATOR, "/collect").text == "Collecting now…"
    assert world.api.next_message(OPERATOR).text == (
        "Collection finished: 3 new, 1 updated, 0 feeds failed."
    )
    assert world.collections == [1]


def test_an_operators_stats_are_not_shown_to_a_group(world: BotWorld) -> None:
    group = -1001700000000
    world.api.add_user(OPERATOR)
    world.api.add_group(group, title="Tech", admins={OPERATOR}, members=set())
    answer = world.say(group, "/stats@steppe_digest_bot", user_id=OPERATOR).text
    assert answer == world.t("en", "operators_private")
    assert "Chats:" not in answer
    # In the private chat the same operator gets the figures.
    assert world.say(OPERATOR, "/stats").text.startswith("Stats\n")
