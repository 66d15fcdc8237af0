"""Customer edits and deletions: applied once, with one `message.updated` event each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from omnihub.normalizer.schema import InboundUpdate, TextPart

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def edit(text: str, at: datetime = T0, external_id: str = "m1") -> InboundUpdate:
    return InboundUpdate(kind="edit", channel_id="tg", external_id=external_id,
                         parts=[TextPart(text=text)], at=at)


def delete(at: datetime = T0, external_id: str = "m1") -> InboundUpdate:
    return InboundUpdate(kind="delete", channel_id="tg", external_id=external_id, at=at)


async def test_edit_replaces_parts_and_emits_one_event(store, inbound, events):
    original = (await store.ingest(inbound("m1", text="helo"))).message

    updated = await store.apply_update(edit("hello"))

    assert updated is not None and updated.id == original.id
    assert updated.parts == [TextPart(text="hello")] and updated.edited_at == T0
    page = await store.conversation_messages(original.conversation_id)
    assert page.items[0].parts == [TextPart(text="hello")] and page.items[0].edited_at == T0
    [event] = await events("message.updated")
    assert event["data"]["id"] == original.id and event["data"]["update"] == "edit"
    assert event["data"]["parts"] == [{"kind": "text", "text": "hello", "html": None}]


async def test_replayed_edit_changes_nothing(store, inbound, events):
    await store.ingest(inbound("m1", text="helo"))
    await store.apply_update(edit("hello"))

    again = await store.apply_update(edit("hello"))

    assert again is not None and again.parts == [TextPart(text="hello")]
    assert len(await events("message.updated")) == 1


async def test_edit_with_unchanged_content_emits_nothing(store, inbound, events):
    original = (await store.ingest(inbound("m1", text="hello"))).message

    same = await store.apply_update(edit("hello"))

    assert same is not None and same.edited_at is None and same.id == original.id
    assert await events("message.updated") == []


async def test_older_edit_does_not_overwrite_a_newer_one(store, inbound, events):
    await store.ingest(inbound("m1", text="v1"))
    await store.apply_update(edit("v3", at=T0 + timedelta(minutes=2)))

    stale = await store.apply_update(edit("v2", at=T0 + timedelta(minutes=1)))

    assert stale is not None and stale.parts == [TextPart(text="v3")]
    assert len(await events("message.updated")) == 1


async def test_delete_sets_recalled_at_once(store, inbound, events):
    original = (await store.ingest(inbound("m1"))).message

    first = await store.apply_update(delete())
    second = await store.apply_update(delete(at=T0 + timedelta(seconds=5)))

    assert first is not None and first.recalled_at == T0
    assert second is not None and second.recalled_at == T0
    page = await store.conversation_messages(original.conversation_id)
    assert page.items[0].recalled_at == T0 and page.items[0].parts == original.parts
    assert [e["data"]["update"] for e in await events("message.updated")] == ["delete"]


async def test_edit_after_delete_is_ignored(store, inbound, events):
    await store.ingest(inbound("m1", text="oops"))
    await store.apply_update(delete())

    late = await store.apply_update(edit("never mind", at=T0 + timedelta(seconds=1)))

    assert late is not None and late.parts == [TextPart(text="oops")]
    assert len(await events("message.updated")) == 1


async def test_unknown_message_is_none_and_writes_nothing(store, inbound, events):
    await store.ingest(inbound("m1"))

    assert await store.apply_update(edit("x", external_id="nope")) is None
    assert await store.apply_update(
        InboundUpdate(kind="delete", channel_id="other", external_id="m1", at=T0)) is None
    assert await events("message.updated") == []
