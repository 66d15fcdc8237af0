"""Messages remember whether a machine sent them (auto-reply, bounce, list mail).

A conversation that such mail opens is tagged `automated:<kind>` (0005); this flag is the
message's own, so that one arriving in a conversation already open (an out-of-office
answer to an agent's reply) is not answered automatically either — by the FAQ bot, say.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("automated", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("automated")
