"""Ids that differ only in case are different ids, on every backend (MySQL included)."""

from __future__ import annotations

from collections.abc import Callable

from omnihub.normalizer.schema import InboundMessage
from omnihub.store import Store


async def test_external_ids_are_case_sensitive(store: Store, inbound: Callable[..., InboundMessage]) -> None:
    lower = await store.ingest(inbound("<abc@mail.example>"))
    upper = await store.ingest(inbound("<ABC@mail.example>"))
    assert not lower.duplicate and not upper.duplicate
    assert lower.message.id != upper.message.id


async def test_channel_user_ids_are_case_sensitive(store: Store, inbound: Callable[..., InboundMessage]) -> None:
    first = await store.ingest(inbound("m-1", ("telegram", "UserA")))
    second = await store.ingest(inbound("m-2", ("telegram", "usera")))
    assert first.message.customer_id != second.message.customer_id
