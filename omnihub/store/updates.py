"""Edits and deletions a customer made at the provider, applied to the stored message.

The message is found by (channel_id, external_id), the same key ingest dedupes on. The
change and its `message.updated` event are one transaction (DESIGN invariant 3). Providers
retry and re-send, so applying an update is idempotent: an edit whose content is already
stored, a deletion already recorded, or an edit older than the last one applied changes
nothing and emits nothing.

A call is not edited but completed: a provider reports it in pieces (how it ended, the
recording, the transcript), so an update of a message made of one call part merges the
fields it sets into the stored call part and leaves `edited_at` alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from pydantic import TypeAdapter

from omnihub.normalizer.schema import CallPart, InboundUpdate, Message, Part
from omnihub.store.db import Database
from omnihub.store.events import event_row, write_outbox
from omnihub.store.rows import MESSAGE_COLUMNS, message_from_row
from omnihub.store.tables import messages

__all__ = ["apply_update"]

_PARTS: TypeAdapter[list[Part]] = TypeAdapter(list[Part])
_m = messages.c


def _changes(message: Message, update: InboundUpdate) -> dict[str, Any]:
    """The column values the update sets; empty when it would change nothing."""
    if update.kind == "delete":
        return {} if message.recalled_at is not None else {"recalled_at": update.at}
    if message.recalled_at is not None:
        return {}  # an edit that arrives after the deletion does not bring it back
    if _is_call(message.parts) and _is_call(update.parts):
        merged = _merge_call(message.parts[0], update.parts[0])  # type: ignore[arg-type]
        return {} if merged == message.parts[0] else {"parts": _PARTS.dump_python(
            [merged], mode="json")}
    if message.edited_at is not None and update.at < message.edited_at:
        return {}  # out of order: a newer edit is already stored
    new_parts = _PARTS.dump_python(update.parts, mode="json")
    if new_parts == _PARTS.dump_python(message.parts, mode="json"):
        return {}
    return {"parts": new_parts, "edited_at": update.at}


def _is_call(parts: list[Part]) -> bool:
    return len(parts) == 1 and isinstance(parts[0], CallPart)


def _merge_call(stored: CallPart, change: CallPart) -> CallPart:
    """The stored call part with every field the change sets (not None) taken from it."""
    return CallPart.model_validate({**stored.model_dump(),
                                    **change.model_dump(exclude_none=True)})


async def apply_update(db: Database, update: InboundUpdate, *,
                       on_commit: Callable[[], object] | None = None) -> Message | None:
    """Apply one edit or deletion; return the message as now stored, None if unknown."""
    async with db.write() as conn:
        where = (_m.channel_id == update.channel_id, _m.direction == "in",
                 _m.external_id == update.external_id)
        # FOR UPDATE: two pieces of one call arriving together must both be merged
        query = sa.select(*MESSAGE_COLUMNS).where(*where).with_for_update()
        row = (await conn.execute(query)).mappings().first()
        if row is None:
            return None  # never stored (sent before the channel existed, or filtered out)
        message = message_from_row(row)
        changes = _changes(message, update)
        if not changes:
            return message
        await conn.execute(sa.update(messages).where(_m.id == message.id).values(**changes))
        if "parts" in changes:
            changes["parts"] = _PARTS.validate_python(changes["parts"])
        message = message.model_copy(update=changes)
        data = {**message.model_dump(mode="json"), "update": update.kind}
        await write_outbox(conn, [event_row("message.updated", data, key=message.conversation_id)])
    if on_commit is not None:
        on_commit()
    return message
