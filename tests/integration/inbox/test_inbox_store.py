"""The inbox's store operations on SQLite, PostgreSQL and MariaDB alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from omnihub.normalizer.schema import Identity, InboundMessage, Sender, TextPart
from omnihub.store import Store
from omnihub.store.audit import Actor
from omnihub.store.conversation_ops import InvalidTransition, OpenConversationExists
from omnihub.store.conversation_search import ConversationFilter, Visibility
from omnihub.store.crypto import PiiCipher, derive_index_key
from omnihub.store.db import Database
from omnihub.store.message_ops import EditLimits

KEY = bytes(range(32))
ANN = Actor("ann", "agent")


@pytest.fixture
async def store(db: Database) -> AsyncIterator[Store]:
    store = Store(db, PiiCipher([KEY], derive_index_key(KEY)))
    await store.start()
    yield store
    await store.close()


async def ingest(store: Store, external_id: str, customer: str, text: str) -> str:
    result = await store.ingest(InboundMessage(
        channel_id="shop", channel_type="api", external_id=external_id,
        sender=Sender(identities=[Identity(kind="api", address=customer)]),
        parts=[TextPart(text=text)]))
    return result.message.conversation_id


async def test_operations_filters_and_reopen_conflict(store: Store) -> None:
    first = await ingest(store, "m-1", "c-1", "Wo ist mein Paket? 100% verloren")
    other = await ingest(store, "m-2", "c-2", "refund please")
    await store.transfer(first, group="logistics", assignee=None, reason="parcel", actor=ANN)
    await store.transfer(other, group="after-sales", assignee="ann", reason="refund", actor=ANN)
    await store.update_conversation(other, {"priority": 50}, add_tags=["vip"], actor=ANN)

    async def ids(**kw: object) -> list[str]:
        page = await store.search_conversations(ConversationFilter(**kw))  # type: ignore[arg-type]
        return [c.id for c in page.items]

    assert await ids(text="Paket") == [first]
    assert await ids(text="100%") == [first]
    assert await ids(text="_") == []
    assert await ids(group="logistics") == [first]
    assert await ids(unassigned=False, priority=10) == [other]
    assert await ids(overdue=True) == []
    bob = Visibility("bob", ["sales"])
    page = await store.search_conversations(ConversationFilter(), visibility=bob)
    assert [c.id for c in page.items] == []  # other is assigned to ann, first in logistics
    await store.set_watching(first, "bob", True, actor=ANN)
    page = await store.search_conversations(ConversationFilter(), visibility=bob)
    assert [c.id for c in page.items] == [first]
    assert await store.can_see(other, bob) is False

    await store.resolve(first, actor=ANN)
    again = await ingest(store, "m-3", "c-1", "hello again")
    assert again != first
    with pytest.raises(OpenConversationExists):
        await store.reopen(first, actor=ANN)
    await store.close_conversation(again, actor=ANN)
    assert (await store.reopen(first, actor=ANN)).status == "open"
    with pytest.raises(InvalidTransition):
        await store.reopen(first, actor=ANN)
    until = datetime.now(UTC) + timedelta(minutes=5)
    assert (await store.snooze(first, until, actor=ANN)).snoozed_until == until
    assert await store.wake_snoozed(now=until + timedelta(seconds=1)) == [first]
    audit = await store.list_audit(target_id=first, limit=3)
    assert [e.action for e in audit.items] == ["conversation.wake", "conversation.snooze",
                                               "conversation.reopen"]
    assert audit.next_cursor is not None


async def test_edit_recall_and_read_markers(store: Store) -> None:
    conversation = await ingest(store, "m-1", "c-1", "hi")
    note, _ = await store.queue_reply(conversation, [TextPart(text="draft")],
                                      author="agent:ann", private=True, actor=ANN)
    limits = EditLimits(window_seconds=60, max_edits=1)
    edited, _ = await store.edit_message(note.id, [TextPart(text="final")], actor=ANN,
                                         limits=limits)
    assert edited.parts[0].text == "final"  # type: ignore[union-attr]
    with pytest.raises(InvalidTransition):
        await store.edit_message(note.id, [TextPart(text="more")], actor=ANN, limits=limits)
    recalled, _ = await store.recall_message(note.id, actor=ANN, limits=limits)
    assert recalled.recalled_at is not None
    marker = await store.set_read_marker("ann", conversation, note.id)
    assert marker.message_id == note.id
    assert [m.agent for m in await store.read_markers(conversation)] == ["ann"]
