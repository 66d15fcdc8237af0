"""Customer profiles: the shop's orders, and the tags derived from them by rules.

Column types are frozen here, as in 0001, so this revision keeps building the same schema
when store/types.py changes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=26)
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
MYSQL = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    op.create_table(
        "customer_orders",
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("order_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total", sa.String(length=40), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("placed_at", UTC_DATETIME, nullable=False),
        sa.Column("shop_updated_at", UTC_DATETIME, nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_customer_orders_customer_id_customers")),
        sa.PrimaryKeyConstraint("customer_id", "order_id", name=op.f("pk_customer_orders")),
        **MYSQL,
    )
    op.create_index("ix_customer_orders_customer_id_placed_at", "customer_orders",
                    ["customer_id", "placed_at"])
    op.create_table(
        "customer_profiles",
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("derived_tags", sa.JSON(), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("rules_sha256", sa.String(length=64), nullable=True),
        sa.Column("computed_at", UTC_DATETIME, nullable=False),
        sa.Column("recheck_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_customer_profiles_customer_id_customers")),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_profiles")),
        **MYSQL,
    )
    op.create_index(op.f("ix_customer_profiles_recheck_at"), "customer_profiles",
                    ["recheck_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_customer_profiles_recheck_at"), table_name="customer_profiles")
    op.drop_table("customer_profiles")
    op.drop_index("ix_customer_orders_customer_id_placed_at", table_name="customer_orders")
    op.drop_table("customer_orders")
