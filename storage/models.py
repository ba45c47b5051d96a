"""The schema, as SQLAlchemy 2 typed declarative models.

Only the storage layer sees these classes; :mod:`storage.store` turns rows into the
plain records of :mod:`storage.records`. Every constraint and index gets a name from
:data:`NAMING_CONVENTION`, so migrations can refer to them on every backend.

Topics and countries live in narrow side tables (not in the JSON evidence) so that
digests and search can filter "energy news about Uzbekistan" with indexed joins.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
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


__all__ = [
    "NAMING_CONVENTION",
    "Article",
    "ArticleCountry",
    "ArticleTopic",
    "Base",
    "Feed",
    "Story",
    "metadata",
]
