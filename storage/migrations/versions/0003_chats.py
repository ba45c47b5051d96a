"""Chats the bot serves, with their topics and countries.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "chats",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("title", sa.String(200), nullable=True),
        sa.Column("language", sa.String(32), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("delivery_time", sa.Time(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chats"),
    )
    for table, column in (("chat_topics", "topic"), ("chat_countries", "country")):
        op.create_table(
            table,
            sa.Column("chat_id", sa.BigInteger(), nullable=False),
            sa.Column(column, sa.String(32), nullable=False),
            sa.ForeignKeyConstraint(
                ["chat_id"],
                ["chats.id"],
                name=f"fk_{table}_chat_id_chats",
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("chat_id", column, name=f"pk_{table}"),
        )
        op.create_index(f"ix_{table}_{column}", table, [column])


def downgrade() -> None:
    op.drop_table("chat_countries")
    op.drop_table("chat_topics")
    op.drop_table("chats")
