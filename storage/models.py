"""The schema, as SQLAlchemy 2 typed declarative models.

Only the storage layer sees these classes; :mod:`storage.store` turns rows into the
plain records of :mod:`storage.records`. Every constraint and index gets a name from
:data:`NAMING_CONVENTION`, so migrations can refer to them on every backend.

Topics and countries live in narrow side tables (not in the JSON evidence) so that
digests and search can filter "energy news about Uzbekistan" with indexed joins.
"""

from __future__ import annotations

from datetime import date, time
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.types import (
    URL_LENGTH,
    intpk,
    str_code,
    str_name,
    str_short,
    str_url,
    text,
    utc_datetime,
)

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Base(DeclarativeBase):
    """Declarative base bound to the project's :data:`metadata`."""

    metadata = metadata


class Feed(Base):
    """One configured outlet feed with its conditional-GET validators and health."""

    __tablename__ = "feeds"

    id: Mapped[intpk]
    key: Mapped[str_short] = mapped_column(unique=True)
    name: Mapped[str_name]
    url: Mapped[str_url]
    language: Mapped[str_code | None]
    country: Mapped[str_code]
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[utc_datetime]

    # Validators of the last successful fetch.
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    body_sha256: Mapped[str_short | None]

    # Health.
    last_attempt_at: Mapped[utc_datetime | None]
    last_success_at: Mapped[utc_datetime | None]
    last_error: Mapped[text | None]
    last_error_at: Mapped[utc_datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[utc_datetime | None]


class FeedAlert(Base):
    """The operators' alert about a failing feed: one row while the feed is failing.

    :mod:`jobs.feed_alerts` decides from the feed's health and this row whether to tell
    the admins now (once, after a day of failures) and whether the feed recovered
    (then the row goes, after one "recovered" message if an alert was sent).
    """

    __tablename__ = "feed_alerts"

    feed_id: Mapped[int] = mapped_column(
        ForeignKey("feeds.id", ondelete="CASCADE"), primary_key=True
    )
    failing_since: Mapped[utc_datetime]
    """The first failed attempt of the current run of failures (as first seen)."""
    alerted_at: Mapped[utc_datetime | None]
    """When the admins were told; ``None`` while the failures are younger than a day."""


class Story(Base):
    """A group of articles (possibly from several outlets) about one event."""

    __tablename__ = "stories"

    id: Mapped[intpk]
    created_at: Mapped[utc_datetime]
    updated_at: Mapped[utc_datetime] = mapped_column(index=True)
    """Publication time of the story's newest article."""


class Article(Base):
    """One article of one feed. ``url`` is unique across feeds, ``guid`` within a feed."""

    __tablename__ = "articles"
    __table_args__ = (UniqueConstraint("feed_id", "guid"),)

    id: Mapped[intpk]
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id"))
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id"), index=True)
    guid: Mapped[str] = mapped_column(String(URL_LENGTH))
    url: Mapped[str_url] = mapped_column(unique=True)
    title: Mapped[text]
    summary: Mapped[text]
    content: Mapped[text]
    language: Mapped[str_code]
    published_at: Mapped[utc_datetime] = mapped_column(index=True)
    first_seen_at: Mapped[utc_datetime]
    updated_at: Mapped[utc_datetime]
    content_hash: Mapped[str_short]
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    """Classification evidence: topic or country code -> the terms that decided it."""


class ArticleTopic(Base):
    """A topic assigned to an article, with the classifier's score."""

    __tablename__ = "article_topics"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    topic: Mapped[str_code] = mapped_column(primary_key=True, index=True)
    score: Mapped[float] = mapped_column(Float)


class ArticleCountry(Base):
    """A country an article is about; ``rank`` 0 is the most prominent."""

    __tablename__ = "article_countries"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    country: Mapped[str_code] = mapped_column(primary_key=True, index=True)
    rank: Mapped[int] = mapped_column(Integer)


class SearchIndexState(Base):
    """The full-text index's bookkeeping: one row (``id`` 1).

    The index itself holds analysed terms, so a new analyser makes it stale: when
    ``analyser_version`` differs from :data:`storage.search.analyser.ANALYSER_VERSION`
    the store rebuilds the index from the articles. Migration 0002 leaves version 0.
    """

    __tablename__ = "search_index_state"

    id: Mapped[intpk]
    analyser_version: Mapped[int] = mapped_column(Integer)
    rebuilt_at: Mapped[utc_datetime | None]


#: Tables of the full-text index, created by migration 0002 with dialect-specific DDL
#: that SQLAlchemy's metadata cannot express: an FTS5 virtual table (and the shadow
#: tables FTS5 makes for it) on SQLite, a ``tsvector`` table with a GIN index on
#: PostgreSQL. Schema comparison (``alembic check``) skips them.
SEARCH_INDEX_TABLES: tuple[str, ...] = ("article_fts", "article_search")


def is_search_index_table(name: str | None) -> bool:
    """True for a table of the full-text index (see :data:`SEARCH_INDEX_TABLES`)."""
    return name is not None and (name in SEARCH_INDEX_TABLES or name.startswith("article_fts_"))


# -- chats (the bot) -------------------------------------------------------------------
# A chat is a Telegram chat the bot serves: a user's private chat, a group or a channel.
# Topics and countries live in side tables, like the articles', so that a delivery run
# can select "chats that want energy news about Uzbekistan" with indexed joins. The
# digest issue adds the next delivery time and a delivery ledger next to these.


class Chat(Base):
    """One chat's subscription and settings. ``id`` is Telegram's chat id."""

    __tablename__ = "chats"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    """Telegram's chat id: a user's id for a private chat, negative for groups/channels."""
    kind: Mapped[str_code]
    """``private``, ``group``, ``supergroup`` or ``channel``."""
    title: Mapped[str_name | None]
    language: Mapped[str_code]
    timezone: Mapped[str_short]
    """IANA time zone name, e.g. ``Asia/Almaty``."""
    delivery_time: Mapped[time] = mapped_column(Time)
    """Local wall-clock time of the daily digest in :attr:`timezone`."""
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    """False once Telegram refuses messages to the chat (blocked, removed)."""
    created_at: Mapped[utc_datetime]
    updated_at: Mapped[utc_datetime]
    next_digest_at: Mapped[utc_datetime | None] = mapped_column(index=True)
    """When the next digest is due (UTC), computed by :mod:`jobs.digest.schedule` from
    :attr:`delivery_time` and :attr:`timezone`; ``None`` until computed, and again
    whenever those settings change (the next scheduler tick recomputes it)."""


class ChatTopic(Base):
    """A topic a chat subscribed to."""

    __tablename__ = "chat_topics"

    chat_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True
    )
    topic: Mapped[str_code] = mapped_column(primary_key=True, index=True)


class ChatCountry(Base):
    """A country a chat follows."""

    __tablename__ = "chat_countries"

    chat_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True
    )
    country: Mapped[str_code] = mapped_column(primary_key=True, index=True)


# -- digest deliveries ------------------------------------------------------------------
# The ledger (an outbox) of daily digests: one row per chat and local date, whatever
# happens. The unique constraint is what makes a digest exactly-once per day: a second
# worker, a restart or a clock change can only find the row, never add another.


class Delivery(Base):
    """One chat's digest for one local date, and how far its delivery got."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("chat_id", "local_date"),
        Index("ix_deliveries_state_not_before", "state", "not_before"),
    )

    id: Mapped[intpk]
    chat_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("chats.id", ondelete="CASCADE"), index=True
    )
    local_date: Mapped[date] = mapped_column(Date)
    """The chat's calendar date (in its time zone) the digest belongs to."""
    due_at: Mapped[utc_datetime]
    state: Mapped[str_code]
    """``pending``, ``sending``, ``sent``, ``empty``, ``skipped``, ``failed``, ``blocked``."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[utc_datetime]
    """A pending row is not claimed before this time (flood control, backoff)."""
    worker: Mapped[str_short | None]
    lease_until: Mapped[utc_datetime | None]
    """A ``sending`` row whose lease ran out belongs to a worker that died: reclaimable."""
    parts: Mapped[list[str] | None] = mapped_column(JSON)
    """The rendered messages, fixed once built so a resumed delivery sends the same."""
    story_ids: Mapped[list[int] | None] = mapped_column(JSON)
    sent_parts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[text | None]
    created_at: Mapped[utc_datetime]
    updated_at: Mapped[utc_datetime]
    sent_at: Mapped[utc_datetime | None]


__all__ = [
    "NAMING_CONVENTION",
    "SEARCH_INDEX_TABLES",
    "Article",
    "ArticleCountry",
    "ArticleTopic",
    "Base",
    "Chat",
    "ChatCountry",
    "ChatTopic",
    "Delivery",
    "Feed",
    "FeedAlert",
    "SearchIndexState",
    "Story",
    "is_search_index_table",
    "metadata",
]
