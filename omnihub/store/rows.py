"""Rows <-> schema models: the one place that knows how columns map to field names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from omnihub.normalizer.schema import Conversation, Message
from omnihub.store.tables import conversations, messages

__all__ = [
    "CONVERSATION_COLUMNS",
    "MESSAGE_COLUMNS",
    "conversation_from_row",
    "conversation_row",
    "message_from_row",
    "message_row",
    "open_key",
]

# Columns that are storage details (idempotency_key, open_key) stay out of the models.
MESSAGE_COLUMNS: tuple[sa.Column[Any], ...] = tuple(
    c for c in messages.c if c.name != "idempotency_key"
)
CONVERSATION_COLUMNS: tuple[sa.Column[Any], ...] = tuple(
    c for c in conversations.c if c.name != "open_key"
)


def open_key(customer_id: str, channel_id: str, thread_key: str | None) -> str:
    """The unique key of a customer's one open conversation per channel and thread."""
    return f"{customer_id}|{channel_id}|{thread_key or ''}"


def message_from_row(row: Mapping[str, Any]) -> Message:
    return Message.model_validate(dict(row))


def message_row(
    message: Message, data: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """Column values for a message; `data` is its JSON dump when the caller already has it."""
    values = dict(data or message.model_dump(mode="json"))
    values.update(
        created_at=message.created_at,
        received_at=message.received_at,
        edited_at=message.edited_at,
        recalled_at=message.recalled_at,
    )
    values.setdefault("idempotency_key", None)
    values.update(extra)
    return values


def conversation_from_row(row: Mapping[str, Any]) -> Conversation:
    values = dict(row)
    values["group"] = values.pop("skill_group")
    values.pop("open_key", None)
    return Conversation.model_validate(values)


def conversation_row(conversation: Conversation, *, open_key: str | None) -> dict[str, Any]:
    values = dict(conversation)  # attributes as they are: datetimes stay datetimes
    values["skill_group"] = values.pop("group")
    values["open_key"] = open_key
    return values
