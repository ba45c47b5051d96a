"""Reading the archive from a chat: /find with pages, /digest, /sources."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from bot.telegram.callbacks import MAX_BYTES
from storage import ArticleInput, Classification, FeedSpec, FetchRecord, Store
from tests.botharness import NOW, BotWorld, world

__all__ = ["world"]

USER = 42
EXPIRED = "This search has expired: run /find again."
FEEDS = [
    FeedSpec("astanatimes", "The Astana Times", "https://astanatimes.com/feed/", "en", "kz"),
    FeedSpec("gazeta", "Газета.uz & Co", "https://www.gazeta.uz/ru/rss/", None, "uz"),
]


def _article(slug: str, title: str, topic: str, country: str, hours_ago: float) -> ArticleInput:
    summary = f"{title}. The details of the story, told plainly."
    return ArticleInput(
        guid=f"urn:{slug}",
        url=f"https://news.example.kz/{slug}?a=1&b=2",
        title=title,
        summary=summary,
        content="",
        language="en",
        published_at=NOW - timedelta(hours=hours_ago),
        content_hash=hashlib.sha256(slug.encode()).hexdigest(),
        classification=Classification(topics={topic: 2.0}, countries=[country]),
    )


def _archive(store: Store) -> None:
    store.sync_feeds(FEEDS, now=NOW)
    ids = {state.spec.key: state.id for state in store.feed_states()}
    solar = [
        _article(f"solar-{n}", f"Solar plant <{n}> opens & grows", "energy", "uz", n)
        for n in range(1, 8)
    ]
    hubs = [_article("hub", "Astana Hub welcomes 40 startups", "it_hubs", "kz", 2)]
    old = [_article("old", "Solar auction of last year", "energy", "kz", 30)]
    store.save_articles(ids["astanatimes"], [(a, None) for a in solar + hubs + old], [], now=NOW)
    store.record_fetch(
        ids["gazeta"],
        FetchRecord(NOW, succeeded=False, error="timeout", validators=None, next_attempt_at=NOW),
    )


@pytest.fixture
def started(world: BotWorld) -> BotWorld:
    _archive(world.store)
    world.api.add_user(USER)
    world.say(USER, "/start")
    world.api.next_message(USER)
    return world


def test_find_alone_explains_the_syntax(started: BotWorld) -> None:
    text = started.say(USER, "/find").text
    for example in ('"data centre"', "-china", "topic:", "country:", "since:7d", "lang:"):
        assert example in text


def test_find_pages_through_results_with_escaped_titles(started: BotWorld) -> None:
    first = started.say(USER, "/find solar")
    assert first.text.startswith("🔎 1–5 of 8 for “solar”:")
    assert "Solar plant <1> opens & grows" in first.text
    assert '?a=1&amp;b=2"' in first.html  # the link survives escaping
    assert len(first.button("More").get("callback_data", "").encode()) <= MAX_BYTES
    second = started.click(first, "More")
    assert second.message_id == first.message_id
    assert second.text.startswith("🔎 6–8 of 8")
    assert second.buttons == []


def test_find_bad_queries(started: BotWorld) -> None:
    assert started.say(USER, "/find zzzqqq").text == "Nothing found for “zzzqqq”."
    too_long = started.say(USER, "/find " + "ж" * 5000).text
    assert too_long == "That query is too long (5000 characters; at most 512)."
    noted = started.say(USER, "/find solar topic:weather").text
    assert "Unknown topic “weather” was ignored." in noted


def test_a_stale_more_button_says_so(started: BotWorld) -> None:
    first = started.say(USER, "/find solar")
    # A button of the old shape, a key the bot never gave, a forged offset.
    for data in ("fd:s:999999:5", "fd:s:5:k:nokey", "fd:s:²:q:solar"):
        query = started.api.press(USER, first.message_id, data)
        assert started.api.callback_answer(query)["text"] == EXPIRED


def test_more_results_still_work_after_the_bot_restarts(started: BotWorld) -> None:
    first = started.say(USER, "/find solar")
    started.restart()  # a redeploy: the bot remembers nothing of the search
    second = started.click(first, "More")
    assert second.message_id == first.message_id
    assert second.text.startswith("🔎 6–8 of 8 for “solar”")


def test_a_query_too_long_for_its_button_pages_until_a_restart(started: BotWorld) -> None:
    query = "solar " + " ".join(f"-nosuchword{n}" for n in range(6))
    first = started.say(USER, f"/find {query}")
    assert first.text.startswith("🔎 1–5 of 8")
    data = first.button("More").get("callback_data", "")
    assert query not in data
    assert len(data.encode()) <= MAX_BYTES
    # Another search meanwhile takes nothing from this one's pages.
    assert started.say(USER, "/find astana").text.startswith("🔎 1–1 of 1")
    assert started.click(first, "More").text.startswith("🔎 6–8 of 8")
    started.restart()
    pressed = started.api.press(USER, first.message_id, data)
    assert started.api.callback_answer(pressed)["text"] == EXPIRED


def test_digest_shows_the_next_digest_by_topic_with_its_buttons(started: BotWorld) -> None:
    message = started.say(USER, "/digest")
    text = message.text
    assert text.startswith("📰 Steppe Digest · November 20, 2026")
    assert text.index("IT hubs & startups") < text.index("Astana Hub") < text.index("Energy")
    # Five stories per topic at most, the freshest first; last year's auction is out.
    assert "Solar plant <1> opens & grows" in text
    assert "Solar plant <6>" not in text
    assert "last year" not in text
    assert message.button_labels == ["⚙️ Settings", "⏸ Pause"]
    started.store.chats.update(USER, countries=["tm"], now=NOW)
    quiet = started.say(USER, "/digest").text
    assert quiet.endswith(started.t("en", "digest_quiet"))


def test_sources_show_language_country_and_health(started: BotWorld) -> None:
    text = started.say(USER, "/sources").text
    assert "Газета.uz & Co: several languages, Uzbekistan. ⚠️ failing (1 attempts in a row)" in text
    assert "The Astana Times: English, Kazakhstan. ⏳ not collected yet" in text


def test_the_buttons_under_a_digest_open_the_settings_and_pause(started: BotWorld) -> None:
    digest = started.say(USER, "/digest")
    started.api.click(digest, "Settings")
    assert "Asia/Almaty" in started.api.next_message(USER).text
    started.api.click(digest, "Pause")
    assert started.api.next_message(USER).text == started.t("en", "paused")
    chat = started.store.chats.get(USER)
    assert chat is not None
    assert chat.paused
