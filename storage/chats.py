"""Chats and their settings (topics, countries, language, time zone, delivery time).

Reached as ``store.chats`` (see :class:`storage.store.Store`); every method is one short
transaction on the store's engine and speaks in :class:`storage.records.ChatSettings`.
The storage layer checks what it can check without knowing the bot: codes are among
:data:`~storage.records.TOPICS` / :data:`~storage.records.COUNTRIES`, lengths fit the
columns, datetimes are aware. Whether a time zone name exists is the bot's business.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time
from typing import TYPE_CHECKING, Final

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from storage.errors import NotFoundError
from storage.models import Chat, ChatCountry, ChatTopic
from storage.records import COUNTRIES, TOPICS, ChatCounts, ChatSettings
from storage.types import CODE_LENGTH, NAME_LENGTH, SHORT_LENGTH

#: Ids per ``IN (...)`` list: well under SQLite's and PostgreSQL's parameter limits.
_IN_CHUNK: Final = 500

if TYPE_CHECKING:
    from storage.store import Store

#: Settings of a chat the bot has just met: everything, at 08:00 in Almaty.
DEFAULT_TIMEZONE: Final = "Asia/Almaty"
DEFAULT_DELIVERY_TIME: Final = time(8, 0)


class Chats:
    """The chats part of the store's interface; shares the store's engine and sessions."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, chat_id: int) -> ChatSettings | None:
        """The chat's settings, or ``None`` when the bot does not know the chat."""
        with self._store._read() as session:
            chat = session.get(Chat, chat_id)
            return None if chat is None else _settings(session, chat)

    def many(self, chat_ids: Iterable[int]) -> dict[int, ChatSettings]:
        """The settings of the known chats among ``chat_ids``, by id, in three queries
        however many (a fan-out reads a batch of chats at once)."""
        wanted = sorted(set(chat_ids))
        found: dict[int, ChatSettings] = {}
        with self._store._read() as session:
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start : start + _IN_CHUNK]
                topics: dict[int, set[str]] = {}
                countries: dict[int, set[str]] = {}
                for chat_id, topic in session.execute(
                    select(ChatTopic.chat_id, ChatTopic.topic).where(ChatTopic.chat_id.in_(chunk))
                ):
                    topics.setdefault(chat_id, set()).add(topic)
                for chat_id, country in session.execute(
                    select(ChatCountry.chat_id, ChatCountry.country).where(
                        ChatCountry.chat_id.in_(chunk)
                    )
                ):
                    countries.setdefault(chat_id, set()).add(country)
                for chat in session.scalars(select(Chat).where(Chat.id.in_(chunk))):
                    found[chat.id] = _settings_of(
                        chat, topics.get(chat.id, set()), countries.get(chat.id, set())
                    )
        return found

    def start(
        self,
        chat_id: int,
        *,
        kind: str,
        title: str | None,
        language: str,
        now: datetime,
    ) -> tuple[ChatSettings, bool]:
        """Register a chat on ``/start``; returns its settings and whether it is new.

        A new chat gets every topic and country, :data:`DEFAULT_TIMEZONE` and
        :data:`DEFAULT_DELIVERY_TIME`. A known chat keeps its settings (``language``
        is only used for new ones) and becomes active again: a user who blocked the
        bot and comes back finds everything as they left it.
        """
        _check(kind=kind, title=title, language=language)
        now = _aware(now)
        with self._store._write() as session:
            chat = session.get(Chat, chat_id)
            created = chat is None
            if chat is None:
                chat = Chat(
                    id=chat_id,
                    kind=kind,
                    title=title,
                    language=language,
                    timezone=DEFAULT_TIMEZONE,
                    delivery_time=DEFAULT_DELIVERY_TIME,
                    paused=False,
                    active=True,
                    created_at=now,
                    updated_at=now,
                )
                session.add(chat)
                session.add_all(ChatTopic(chat_id=chat_id, topic=topic) for topic in TOPICS)
                session.add_all(
                    ChatCountry(chat_id=chat_id, country=country) for country in COUNTRIES
                )
                session.flush()
            else:
                if not chat.active:
                    # Back after a block: plan from now, not the days it missed.
                    chat.next_digest_at = None
                chat.kind, chat.title, chat.active, chat.updated_at = kind, title, True, now
            return _settings(session, chat), created

    def update(
        self,
        chat_id: int,
        *,
        now: datetime,
        language: str | None = None,
        topics: Iterable[str] | None = None,
        countries: Iterable[str] | None = None,
        timezone: str | None = None,
        delivery_time: time | None = None,
        paused: bool | None = None,
    ) -> ChatSettings:
        """Change the given settings (``None`` keeps one); returns the new settings.

        Raises :class:`NotFoundError` for an unknown chat and :class:`ValueError` for
        an unknown topic or country code, an empty topic or country list, or an
        over-long value.
        """
        topic_list = _codes(topics, TOPICS, "topic") if topics is not None else None
        country_list = _codes(countries, COUNTRIES, "country") if countries is not None else None
        _check(language=language, timezone=timezone)
        if delivery_time is not None and delivery_time.tzinfo is not None:
            raise ValueError("delivery_time is a local wall-clock time: give it without tzinfo")
        now = _aware(now)
        with self._store._write() as session:
            chat = session.get(Chat, chat_id)
            if chat is None:
                raise NotFoundError(f"no chat with id {chat_id}")
            if language is not None:
                chat.language = language
            if timezone is not None:
                chat.timezone = timezone
            if delivery_time is not None:
                chat.delivery_time = delivery_time.replace(second=0, microsecond=0)
            if paused is not None:
                chat.paused = paused
            if timezone is not None or delivery_time is not None or paused is not None:
                # Recomputed by the next scheduler tick (jobs.digest.schedule owns the
                # arithmetic); the ledger's one row per local date keeps a moved time
                # from producing a second digest on a day that already had one.
                chat.next_digest_at = None
            if topic_list is not None:
                session.execute(delete(ChatTopic).where(ChatTopic.chat_id == chat_id))
                session.add_all(ChatTopic(chat_id=chat_id, topic=t) for t in topic_list)
            if country_list is not None:
                session.execute(delete(ChatCountry).where(ChatCountry.chat_id == chat_id))
                session.add_all(ChatCountry(chat_id=chat_id, country=c) for c in country_list)
            chat.updated_at = now
            session.flush()
            return _settings(session, chat)

    def set_active(self, chat_id: int, active: bool, *, now: datetime) -> bool:
        """Mark a chat active or inactive (blocked, removed); False if it is unknown.

        Inactive chats keep their settings; :meth:`start` makes them active again.
        """
        now = _aware(now)
        with self._store._write() as session:
            chat = session.get(Chat, chat_id)
            if chat is None:
                return False
            if chat.active != active:
                chat.active, chat.updated_at = active, now
                chat.next_digest_at = None
            return True

    def migrate(self, old_id: int, new_id: int, *, now: datetime) -> bool:
        """A group became a supergroup, which Telegram gives a new id: move the chat, its
        settings and its delivery ledger to ``new_id`` (kind ``supergroup``).

        False when ``old_id`` is unknown (already moved: Telegram tells both the old
        group and the new supergroup). A chat already known under ``new_id`` (someone
        used the supergroup before the news arrived) is replaced: the group's own
        settings win.
        """
        now = _aware(now)
        if old_id == new_id:
            return False
        with self._store._write() as session:
            old = session.get(Chat, old_id)
            if old is None:
                return False
            if session.get(Chat, new_id) is not None:
                self._forget(session, new_id)
                session.flush()
            session.add(
                Chat(
                    id=new_id,
                    kind="supergroup",
                    title=old.title,
                    language=old.language,
                    timezone=old.timezone,
                    delivery_time=old.delivery_time,
                    paused=old.paused,
                    active=old.active,
                    created_at=old.created_at,
                    updated_at=now,
                    next_digest_at=old.next_digest_at,
                )
            )
            session.flush()
            for table in (ChatTopic, ChatCountry):
                session.execute(update(table).where(table.chat_id == old_id).values(chat_id=new_id))
            self._store.deliveries.move_chat(session, old_id, new_id)
            session.execute(delete(Chat).where(Chat.id == old_id))
            return True

    def delete(self, chat_id: int) -> bool:
        """Forget a chat and everything about it (``/stop``); False if it was unknown."""
        with self._store._write() as session:
            return self._forget(session, chat_id)

    def _forget(self, session: Session, chat_id: int) -> bool:
        """Delete the chat, its subscriptions and its ledger in the caller's transaction;
        False if there was no such chat."""
        # Explicit deletes: SQLite enforces ON DELETE CASCADE only with foreign keys on.
        session.execute(delete(ChatTopic).where(ChatTopic.chat_id == chat_id))
        session.execute(delete(ChatCountry).where(ChatCountry.chat_id == chat_id))
        self._store.deliveries.forget_chat(session, chat_id)
        result = session.execute(delete(Chat).where(Chat.id == chat_id))
        return bool(getattr(result, "rowcount", 0))

    def counts(self) -> ChatCounts:
        """How many chats there are, how many get digests, and per topic."""
        with self._store._read() as session:
            by_state = {
                (bool(active), bool(paused)): int(n)
                for active, paused, n in session.execute(
                    select(Chat.active, Chat.paused, func.count()).group_by(
                        Chat.active, Chat.paused
                    )
                )
            }
            per_topic = {
                str(topic): int(n)
                for topic, n in session.execute(
                    select(ChatTopic.topic, func.count())
                    .join(Chat, Chat.id == ChatTopic.chat_id)
                    .where(Chat.active.is_(True), Chat.paused.is_(False))
                    .group_by(ChatTopic.topic)
                )
            }
        return ChatCounts(
            chats=sum(by_state.values()),
            active=by_state.get((True, False), 0),
            paused=by_state.get((True, True), 0),
            inactive=by_state.get((False, False), 0) + by_state.get((False, True), 0),
            per_topic={topic: per_topic.get(topic, 0) for topic in TOPICS},
        )


def _settings(session: Session, chat: Chat) -> ChatSettings:
    topics = set(session.scalars(select(ChatTopic.topic).where(ChatTopic.chat_id == chat.id)).all())
    countries = set(
        session.scalars(select(ChatCountry.country).where(ChatCountry.chat_id == chat.id)).all()
    )
    return _settings_of(chat, topics, countries)


def _settings_of(chat: Chat, topics: set[str], countries: set[str]) -> ChatSettings:
    return ChatSettings(
        id=chat.id,
        kind=chat.kind,
        title=chat.title,
        language=chat.language,
        topics=tuple(t for t in TOPICS if t in topics),
        countries=tuple(c for c in COUNTRIES if c in countries),
        timezone=chat.timezone,
        delivery_time=chat.delivery_time,
        paused=chat.paused,
        active=chat.active,
        created_at=chat.created_at,
        updated_at=chat.updated_at,
    )


def _codes(values: Iterable[str], known: tuple[str, ...], what: str) -> list[str]:
    chosen = set(values)
    unknown = sorted(chosen - set(known))
    if unknown:
        raise ValueError(f"unknown {what} {', '.join(unknown)}; known: {', '.join(known)}")
    if not chosen:
        raise ValueError(f"a chat needs at least one {what}")
    return [code for code in known if code in chosen]


def _check(
    *,
    kind: str | None = None,
    title: str | None = None,
    language: str | None = None,
    timezone: str | None = None,
) -> None:
    for what, value, limit in (
        ("chat kind", kind, CODE_LENGTH),
        ("chat title", title, NAME_LENGTH),
        ("language", language, CODE_LENGTH),
        ("time zone", timezone, SHORT_LENGTH),
    ):
        if value is not None and len(value) > limit:
            raise ValueError(f"{what} is {len(value)} characters long, over the limit of {limit}")
        if value is not None and what != "chat title" and not value:
            raise ValueError(f"{what} is empty")


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"now must be a timezone-aware datetime, got naive {value}")
    return value
