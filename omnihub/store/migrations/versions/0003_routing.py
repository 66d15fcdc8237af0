"""Routing: agent availability, the round-robin pointer, fired SLA breaches and steps.

Column types are frozen here, as in 0001, so this revision keeps building the same schema
when store/types.py changes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=26)
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
MYSQL = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    op.create_table(
        "agent_status",
        sa.Column("agent", sa.String(length=80), nullable=False),
        sa.Column("availability", sa.String(length=16), nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("agent", name=op.f("pk_agent_status")),
        **MYSQL,
    )
    op.create_table(
        "routing_rotation",
        sa.Column("skill_group", sa.String(length=64), nullable=False),
        sa.Column("last_agent", sa.String(length=80), nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("skill_group", name=op.f("pk_routing_rotation")),
        **MYSQL,
    )
    op.create_table(
        "sla_fired",
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("fired_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"],
                                name=op.f("fk_sla_fired_conversation_id_conversations")),
        sa.PrimaryKeyConstraint("conversation_id", "key", name=op.f("pk_sla_fired")),
        **MYSQL,
    )


def downgrade() -> None:
    for table in ("sla_fired", "routing_rotation", "agent_status"):
        op.drop_table(table)
