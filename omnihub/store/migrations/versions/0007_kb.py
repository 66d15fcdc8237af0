"""Knowledge base and FAQ bot: entries, their versions, indexed phrasings, bot sessions,
bot quick-reply buttons and the unanswered questions the learning step clusters.

The full-text index over kb_phrases.terms is per dialect and not part of tables.py:
SQLite gets an FTS5 table (kb_fts, external content) kept in step by triggers;
PostgreSQL a GIN index over array_to_tsvector(string_to_array(terms, ' ')); MySQL none
(InnoDB FULLTEXT drops words under 3 characters, most Chinese words; kb/fts.py matches
space-padded terms with LIKE there).

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=26)
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
MYSQL = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_SQLITE_FTS = (
    "CREATE VIRTUAL TABLE kb_fts USING fts5(terms, content='kb_phrases', content_rowid='id', "
    "tokenize='unicode61')",
    "CREATE TRIGGER kb_fts_ai AFTER INSERT ON kb_phrases BEGIN "
    "INSERT INTO kb_fts(rowid, terms) VALUES (new.id, new.terms); END",
    "CREATE TRIGGER kb_fts_ad AFTER DELETE ON kb_phrases BEGIN "
    "INSERT INTO kb_fts(kb_fts, rowid, terms) VALUES ('delete', old.id, old.terms); END",
    "CREATE TRIGGER kb_fts_au AFTER UPDATE ON kb_phrases BEGIN "
    "INSERT INTO kb_fts(kb_fts, rowid, terms) VALUES ('delete', old.id, old.terms); "
    "INSERT INTO kb_fts(rowid, terms) VALUES (new.id, new.terms); END",
)
_POSTGRES_FTS = (
    "CREATE INDEX kb_fts_phrases_terms ON kb_phrases "
    "USING gin (array_to_tsvector(string_to_array(terms, ' ')))",
)


def upgrade() -> None:
    op.create_table(
        "kb_entries",
        sa.Column("id", ID, nullable=False),
        sa.Column("question", sa.String(length=500), nullable=False),
        sa.Column("paraphrases", sa.JSON(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("variants", sa.JSON(), nullable=False),
        sa.Column("links", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("helpful", sa.Integer(), nullable=False),
        sa.Column("unhelpful", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("updated_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_entries")),
        **MYSQL,
    )
    op.create_table(
        "kb_entry_versions",
        sa.Column("entry_id", ID, nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("entry_id", "version", name=op.f("pk_kb_entry_versions")),
        **MYSQL,
    )
    op.create_table(
        "kb_phrases",
        sa.Column("id", BIGINT_ID, autoincrement=True, nullable=False),
        sa.Column("entry_id", ID, nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["kb_entries.id"],
                                name=op.f("fk_kb_phrases_entry_id_kb_entries")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_phrases")),
        **MYSQL,
    )
    op.create_index(op.f("ix_kb_phrases_entry_id"), "kb_phrases", ["entry_id"], unique=False)
    op.create_table(
        "bot_sessions",
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("last_message_id", ID, nullable=True),
        sa.Column("unanswered", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("awaiting", sa.String(length=16), nullable=True),
        sa.Column("entry_ids", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"],
                                name=op.f("fk_bot_sessions_conversation_id_conversations")),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_bot_sessions")),
        **MYSQL,
    )
    op.create_table(
        "bot_buttons",
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("buttons", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"],
                                name=op.f("fk_bot_buttons_conversation_id_conversations")),
        sa.PrimaryKeyConstraint("conversation_id", "idempotency_key",
                                name=op.f("pk_bot_buttons")),
        **MYSQL,
    )
    op.create_table(
        "kb_learning",
        sa.Column("id", ID, nullable=False),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_by", sa.String(length=80), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"],
                                name=op.f("fk_kb_learning_conversation_id_conversations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_learning")),
        sa.UniqueConstraint("conversation_id", name=op.f("uq_kb_learning_conversation_id")),
        **MYSQL,
    )
    op.create_index("ix_kb_learning_status", "kb_learning", ["status"], unique=False)
    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": _SQLITE_FTS, "postgresql": _POSTGRES_FTS}.get(dialect, ()):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("kb_fts_ai", "kb_fts_ad", "kb_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS kb_fts")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS kb_fts_phrases_terms")
    op.drop_index("ix_kb_learning_status", table_name="kb_learning")
    op.drop_table("kb_learning")
    op.drop_table("bot_buttons")
    op.drop_table("bot_sessions")
    op.drop_index(op.f("ix_kb_phrases_entry_id"), table_name="kb_phrases")
    op.drop_table("kb_phrases")
    op.drop_table("kb_entry_versions")
    op.drop_table("kb_entries")
