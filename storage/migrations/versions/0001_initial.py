"""Initial schema: feeds, stories, articles and their topics and countries.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _timestamp(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("language", sa.String(32), nullable=True),
        sa.Column("country", sa.String(32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        _timestamp("created_at", nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("body_sha256", sa.String(64), nullable=True),
        _timestamp("last_attempt_at", nullable=True),
        _timestamp("last_success_at", nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _timestamp("last_error_at", nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        _timestamp("next_attempt_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_feeds"),
        sa.UniqueConstraint("key", name="uq_feeds_key"),
    )
    op.create_table(
        "stories",
        sa.Column("id", sa.Integer(), nullable=False),
        _timestamp("created_at", nullable=False),
        _timestamp("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_stories"),
    )
    op.create_index("ix_stories_updated_at", "stories", ["updated_at"])
    op.create_table(
        "articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.Column("guid", sa.String(2048), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("language", sa.String(32), nullable=False),
        _timestamp("published_at", nullable=False),
        _timestamp("first_seen_at", nullable=False),
        _timestamp("updated_at", nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_articles"),
        sa.ForeignKeyConstraint(["feed_id"], ["feeds.id"], name="fk_articles_feed_id_feeds"),
        sa.ForeignKeyConstraint(["story_id"], ["stories.id"], name="fk_articles_story_id_stories"),
        sa.UniqueConstraint("feed_id", "guid", name="uq_articles_feed_id_guid"),
        sa.UniqueConstraint("url", name="uq_articles_url"),
    )
    op.create_index("ix_articles_published_at", "articles", ["published_at"])
    op.create_index("ix_articles_story_id", "articles", ["story_id"])
    op.create_table(
        "article_topics",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(32), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("article_id", "topic", name="pk_article_topics"),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name="fk_article_topics_article_id_articles",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_article_topics_topic", "article_topics", ["topic"])
    op.create_table(
        "article_countries",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(32), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("article_id", "country", name="pk_article_countries"),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name="fk_article_countries_article_id_articles",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_article_countries_country", "article_countries", ["country"])


def downgrade() -> None:
    op.drop_table("article_countries")
    op.drop_table("article_topics")
    op.drop_table("articles")
    op.drop_table("stories")
    op.drop_table("feeds")
