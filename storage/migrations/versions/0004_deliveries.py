"""Daily digests: each chat's next delivery time and the delivery ledger.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("chats") as batch:
        batch.add_column(sa.Column("next_digest_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_chats_next_digest_at", ["next_digest_at"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("worker", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("parts", sa.JSON(), nullable=True),
        sa.Column("story_ids", sa.JSON(), nullable=True),
        sa.Column("sent_parts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["chat_id"], ["chats.id"], name="fk_deliveries_chat_id_chats", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.UniqueConstraint("chat_id", "local_date", name="uq_deliveries_chat_id_local_date"),
    )
    op.create_index("ix_deliveries_chat_id", "deliveries", ["chat_id"])
    op.create_index("ix_deliveries_state_not_before", "deliveries", ["state", "not_before"])


def downgrade() -> None:
    op.drop_table("deliveries")
    with op.batch_alter_table("chats") as batch:
        batch.drop_index("ix_chats_next_digest_at")
        batch.drop_column("next_digest_at")
