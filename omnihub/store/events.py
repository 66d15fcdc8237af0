"""Outbox rows: events for agents and deliveries for connectors, written in the caller's
transaction (DESIGN invariant 3); the outbox dispatcher moves them on after commit."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from omnihub.hub.bus.base import Envelope
from omnihub.hub.request_id import bound_request_id, current_request_id
from omnihub.normalizer.ids import new_id
from omnihub.store.bulk import BulkInsert
from omnihub.store.tables import outbox, outbox_pending

__all__ = ["DELIVERY_TOPIC", "EVENT_TOPIC", "delivery_row", "event_row", "write_outbox"]

log = logging.getLogger("omnihub.store.events")

EVENT_TOPIC = "event"
DELIVERY_TOPIC = "delivery"
_INSERT = BulkInsert(outbox)
_INSERT_PENDING = BulkInsert(outbox_pending)
_SELECT_SEQS = sa.select(outbox.c.seq, outbox.c.id).where(
    outbox.c.id.in_(sa.bindparam("ids", expanding=True))
)


def event_row(
    type: str, data: dict[str, Any], *, key: str | None, now: datetime | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """An agent-facing event; its payload is exactly what webhooks and SSE send.

    `request_id` (default: the one of the request being handled) goes into its own column,
    for the logs of whoever handles the row, and never into the payload.
    """
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
        "request_id": request_id or current_request_id(),
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
        "request_id": current_request_id(),
    }


async def write_outbox(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> list[Envelope]:
    """Insert outbox rows and their pending marks inside the caller's transaction.

    Returns the rows as envelopes in seq order, so that after commit the writer can hand
    them to the dispatcher instead of the dispatcher reading them back.
    """
    if not rows:
        return []
    rows = [row if "request_id" in row else {**row, "request_id": None} for row in rows]
    if conn.dialect.insert_returning:
        inserted = await _INSERT.returning(conn, rows, "seq", "id")
    else:  # MySQL has no INSERT ... RETURNING: look the seqs up by the unique event id
        await _INSERT.execute(conn, rows)
        inserted = list(await conn.execute(_SELECT_SEQS, {"ids": [row["id"] for row in rows]}))
    seq_of = {event_id: seq for seq, event_id in inserted}
    await _INSERT_PENDING.execute(conn, [{"seq": seq} for seq in sorted(seq_of.values())])
    envelopes = [
        Envelope(seq=seq_of[row["id"]], id=row["id"], topic=row["topic"], type=row["type"],
                 key=row["key"], payload=row["payload"], created_at=row["created_at"],
                 request_id=row["request_id"])
        for row in rows
    ]
    envelopes.sort(key=_by_seq)
    if log.isEnabledFor(logging.DEBUG):
        for envelope in envelopes:
            with bound_request_id(envelope.request_id):
                log.debug("outbox row %d: %s %s", envelope.seq, envelope.type, envelope.id)
    return envelopes


def _by_seq(envelope: Envelope) -> int:
    return envelope.seq
