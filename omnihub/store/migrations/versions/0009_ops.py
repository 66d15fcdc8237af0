"""Operations: alerts, routing canary, backups.

Monitoring: `outbox.request_id` (the request that wrote a row, for the logs of whoever
handles it) and `alert_states` (each alert rule's state and the notices it has sent).
Staged routing rollout: `conversations.routing_version`, the sha256 of the routing.yaml
version (stable or canary) that routed the conversation.
Column types are frozen here, as in 0001.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=26)
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
MYSQL = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    # --- monitoring and alerts ---
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("request_id", sa.String(length=64), nullable=True))
    op.create_table(
        "alert_states",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("firing_id", ID, nullable=True),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("pending_since", UTC_DATETIME, nullable=True),
        sa.Column("fired_at", UTC_DATETIME, nullable=True),
        sa.Column("resolved_at", UTC_DATETIME, nullable=True),
        sa.Column("owed", sa.String(length=16), nullable=True),
        sa.Column("notified", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_alert_states")),
        **MYSQL,
    )
    # --- staged routing rollout ---
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("routing_version", sa.String(length=64), nullable=True))


def downgrade() -> None:
    # --- staged routing rollout ---
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("routing_version")
    # --- monitoring and alerts ---
    op.drop_table("alert_states")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("request_id")
