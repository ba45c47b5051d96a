"""The chat store on both backends: defaults, changes, activity, deletion, counts."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from storage import NotFoundError, Store
from storage.records import COUNTRIES, TOPICS

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
GROUP = -1001234567890123  # beyond 32 bits, as Telegram's supergroup ids are


def test_a_new_chat_gets_everything_at_eight_in_almaty(store: Store) -> None:
    chat, created = store.chats.start(42, kind="private", title="Aigerim", language="kk", now=NOW)
    assert created
    assert (chat.topics, chat.countries) == (TOPICS, COUNTRIES)
    assert (chat.timezone, chat.delivery_time) == ("Asia/Almaty", time(8, 0))
    assert (chat.language, chat.paused, chat.active) == ("kk", False, True)
    assert store.chats.get(42) == chat


def test_settings_change_one_at_a_time_and_survive_a_restart(store: Store) -> None:
    store.chats.start(GROUP, kind="supergroup", title="Tech Almaty", language="ru", now=NOW)
    store.chats.update(GROUP, topics=["society", "energy"], now=LATER)
    store.chats.update(GROUP, countries=["uz"], timezone="Asia/Tashkent", now=LATER)
    chat = store.chats.update(GROUP, delivery_time=time(7, 30), paused=True, now=LATER)
    assert chat.topics == ("energy", "society")  # the canonical order
    assert chat.countries == ("uz",)
    assert (chat.timezone, chat.delivery_time, chat.paused) == ("Asia/Tashkent", time(7, 30), True)
    assert (chat.updated_at, chat.created_at) == (LATER, NOW)
    again, created = store.chats.start(
        GROUP, kind="supergroup", title="T", language="en", now=LATER
    )
    assert not created
    assert (again.language, again.topics, again.title) == ("ru", ("energy", "society"), "T")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"topics": ["weather"]}, "unknown topic weather"),
        ({"countries": ["ru"]}, "unknown country ru"),
        ({"topics": []}, "at least one topic"),
        ({"timezone": "x" * 65}, "over the limit"),
    ],
)
def test_bad_values_are_refused_and_change_nothing(
    store: Store, change: dict[str, object], message: str
) -> None:
    before, _ = store.chats.start(42, kind="private", title=None, language="en", now=NOW)
    with pytest.raises(ValueError, match=message):
        store.chats.update(42, now=LATER, **change)  # type: ignore[arg-type]
    assert store.chats.get(42) == before


def test_unknown_chats(store: Store) -> None:
    assert store.chats.get(7) is None
    with pytest.raises(NotFoundError):
        store.chats.update(7, paused=True, now=NOW)
    assert store.chats.set_active(7, False, now=NOW) is False
    assert store.chats.delete(7) is False


def test_blocked_chats_are_kept_inactive_and_come_back(store: Store) -> None:
    store.chats.start(42, kind="private", title=None, language="en", now=NOW)
    store.chats.update(42, topics=["energy"], now=NOW)
    assert store.chats.set_active(42, False, now=LATER)
    chat = store.chats.get(42)
    assert chat is not None
    assert not chat.active
    chat, created = store.chats.start(42, kind="private", title=None, language="en", now=LATER)
    assert (created, chat.active, chat.topics) == (False, True, ("energy",))


def test_delete_forgets_the_chat_and_its_choices(store: Store) -> None:
    store.chats.start(42, kind="private", title=None, language="en", now=NOW)
    store.chats.start(43, kind="private", title=None, language="en", now=NOW)
    assert store.chats.delete(42)
    assert store.chats.get(42) is None
    assert store.chats.counts().per_topic == dict.fromkeys(TOPICS, 1)


def test_counts_for_the_operators(store: Store) -> None:
    for chat_id in (1, 2, 3, 4):
        store.chats.start(chat_id, kind="private", title=None, language="en", now=NOW)
    store.chats.update(1, topics=["energy"], now=NOW)
    store.chats.update(2, paused=True, now=NOW)
    store.chats.set_active(3, False, now=NOW)
    counts = store.chats.counts()
    assert (counts.chats, counts.active, counts.paused, counts.inactive) == (4, 2, 1, 1)
    assert counts.per_topic == {"it_hubs": 1, "energy": 2, "policy": 1, "society": 1}
