"""Full-text search index: FTS5 on SQLite, a tsvector table with a GIN index on PostgreSQL.

Both hold the terms of :mod:`storage.search.analyser` (not raw text), written by the
store, so the two backends match alike. The index starts empty with analyser version
0; the store fills it from the articles when it opens the database
(:meth:`storage.store.Store.open`), and again whenever the analyser changes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    state = op.create_table(
        "search_index_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("analyser_version", sa.Integer(), nullable=False),
        sa.Column("rebuilt_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_search_index_state"),
    )
    op.bulk_insert(state, [{"id": 1, "analyser_version": 0, "rebuilt_at": None}])
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "CREATE TABLE article_search ("
            " article_id integer NOT NULL,"
            " document tsvector NOT NULL,"
            " CONSTRAINT pk_article_search PRIMARY KEY (article_id),"
            " CONSTRAINT fk_article_search_article_id_articles FOREIGN KEY (article_id)"
            " REFERENCES articles (id) ON DELETE CASCADE)"
        )
        op.execute("CREATE INDEX ix_article_search_document ON article_search USING gin (document)")
    else:
        # Contentless: the terms are not stored twice; snippets come from the articles.
        # The analyser has already folded case and diacritics, so the tokenizer only
        # splits on the spaces between terms.
        op.execute(
            "CREATE VIRTUAL TABLE article_fts USING fts5("
            "title, body, content='', tokenize='unicode61 remove_diacritics 0')"
        )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TABLE article_search")
    else:
        op.execute("DROP TABLE article_fts")
    op.drop_table("search_index_state")
