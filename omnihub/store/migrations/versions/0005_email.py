"""E-mail connector state: IMAP mailbox cursors, mail threads (ticket numbers) and the
Message-IDs that thread replies.

Column types are frozen here, as in 0001, so this revision keeps building the same schema
when store/types.py changes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=26)
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
MYSQL = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "email_cursors",
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("mailbox", sa.String(length=200), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("fencing_token", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("channel_id", "mailbox", name=op.f("pk_email_cursors")),
        **MYSQL,
    )
    op.create_table(
        "email_threads",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("thread_key", sa.String(length=255), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_threads")),
        sa.UniqueConstraint("channel_id", "thread_key",
                            name=op.f("uq_email_threads_channel_id_thread_key")),
        **MYSQL,
    )
    op.create_table(
        "email_message_ids",
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("thread_key", sa.String(length=255), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=True),
        sa.Column("ref_chain", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("channel_id", "message_id", name=op.f("pk_email_message_ids")),
        **MYSQL,
    )
    op.create_index("ix_email_message_ids_channel_id_thread_key", "email_message_ids",
                    ["channel_id", "thread_key"])


def downgrade() -> None:
    op.drop_index("ix_email_message_ids_channel_id_thread_key", table_name="email_message_ids")
    op.drop_table("email_message_ids")
    op.drop_table("email_threads")
    op.drop_table("email_cursors")
