"""Outbox rows: events for agents and deliveries for connectors, written in the caller's
transaction (DESIGN invariant 3); the outbox dispatcher moves them on after commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from omnihub.normalizer.ids import new_id
from omnihub.store.tables import outbox

__all__ = ["DELIVERY_TOPIC", "EVENT_TOPIC", "delivery_row", "event_row", "write_outbox"]

EVENT_TOPIC = "event"
DELIVERY_TOPIC = "delivery"
_INSERT = sa.insert(outbox)


def event_row(
    type: str, data: dict[str, Any], *, key: str | None, now: datetime | None = None
) -> dict[str, Any]:
    """An agent-facing event; its payload is exactly what webhooks and SSE send."""
    created_at = now or datetime.now(UTC)
    event_id = new_id()
    return {
        "id": event_id,
        "topic": EVENT_TOPIC,
        "type": type,
        "key": key,
        "payload": {
            "id": event_id,
            "type": type,
            "created_at": created_at.isoformat(),
            "data": data,
        },
        "created_at": created_at,
        "dispatched_at": None,
    }


def delivery_row(
    message_id: str, conversation_id: str, channel_id: str, *, now: datetime | None = None
) -> dict[str, Any]:
    """A job for the channel's connector: send this queued message to the customer."""
    created_at = now or datetime.now(UTC)
    return {
        "id": new_id(),
        "topic": DELIVERY_TOPIC,
        "type": "message.deliver",
        "key": conversation_id,
        "payload": {
            "message_id": message_id,
            "conversation_id": conversation_id,
            "channel_id": channel_id,
        },
        "created_at": created_at,
        "dispatched_at": None,
    }


async def write_outbox(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert outbox rows in one statement, inside the caller's transaction."""
    if rows:
        await conn.execute(_INSERT, list(rows))
