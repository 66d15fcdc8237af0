"""The agent inbox: audit log, watchers, read markers, message edits; snooze and escalation.

Column types are frozen here, as in 0001, so this revision keeps building the same schema
when store/types.py changes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=26)
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
MYSQL = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("snoozed_until", UTC_DATETIME, nullable=True))
        batch.add_column(sa.Column("escalation_level", sa.Integer(), nullable=False,
                                   server_default="0"))

    op.create_table(
        "audit_log",
        sa.Column("id", ID, nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        **MYSQL,
    )
    op.create_index("ix_audit_log_target_id_id", "audit_log", ["target_id", "id"])

    op.create_table(
        "conversation_watchers",
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("agent", sa.String(length=80), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"],
            name=op.f("fk_conversation_watchers_conversation_id_conversations")),
        sa.PrimaryKeyConstraint("conversation_id", "agent",
                                name=op.f("pk_conversation_watchers")),
        **MYSQL,
    )
    op.create_index("ix_conversation_watchers_agent", "conversation_watchers", ["agent"])

    op.create_table(
        "read_markers",
        sa.Column("agent", sa.String(length=80), nullable=False),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("message_id", ID, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"],
            name=op.f("fk_read_markers_conversation_id_conversations")),
        sa.PrimaryKeyConstraint("agent", "conversation_id", name=op.f("pk_read_markers")),
        **MYSQL,
    )

    op.create_table(
        "message_edits",
        sa.Column("id", ID, nullable=False),
        sa.Column("message_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("editor", sa.String(length=80), nullable=False),
        sa.Column("before_parts", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"],
                                name=op.f("fk_message_edits_message_id_messages")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_edits")),
        **MYSQL,
    )
    op.create_index(op.f("ix_message_edits_message_id"), "message_edits", ["message_id"])


def downgrade() -> None:
    for table in ("message_edits", "read_markers", "conversation_watchers", "audit_log"):
        op.drop_table(table)
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("escalation_level")
        batch.drop_column("snoozed_until")
