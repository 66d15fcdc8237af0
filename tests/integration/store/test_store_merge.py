"""Merging customers moves everything; unmerging moves exactly that back."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from omnihub.store import MergeError, NotFound
from omnihub.store.tables import conversations, customers, identities, messages


async def snapshot(db):
    """Who owns what: every identity, conversation (with its open key) and message."""
    async with db.read() as conn:
        return {
            "identities": sorted(
                (await conn.execute(sa.select(identities.c.id, identities.c.customer_id))).all()
            ),
            "conversations": sorted(
                (
                    await conn.execute(
                        sa.select(
                            conversations.c.id,
                            conversations.c.customer_id,
                            conversations.c.open_key,
                        )
                    )
                ).all()
            ),
            "messages": sorted(
                (await conn.execute(sa.select(messages.c.id, messages.c.customer_id))).all()
            ),
            "merged_into": sorted(
                (await conn.execute(sa.select(customers.c.id, customers.c.merged_into))).all()
            ),
        }


@pytest.fixture
async def two_customers(store, inbound):
    ann = [
        await store.ingest(
            inbound(f"e{i}", ("email", "ann@example.com"), channel_id="mail", channel_type="email")
        )
        for i in range(3)
    ]
    ann.append(
        await store.ingest(inbound("t1", ("telegram", "42"), ("email", "ann@example.com", True)))
    )
    phone = [
        await store.ingest(
            inbound(f"w{i}", ("phone", "+14155552671"), channel_id="wa", channel_type="whatsapp")
        )
        for i in range(2)
    ]
    # the same channel and thread as ann's telegram conversation: the open keys clash
    phone.append(
        await store.ingest(inbound("t2", ("telegram", "43"), ("phone", "+14155552671", True)))
    )
    assert (
        len({r.message.customer_id for r in ann})
        == len({r.message.customer_id for r in phone})
        == 1
    )
    return ann[0].message.customer_id, phone[0].message.customer_id, ann[-1].message.conversation_id


async def test_merge_moves_identities_conversations_and_history(store, two_customers, events):
    ann, other, _ = two_customers
    merge_id = await store.merge_customers(other, ann, actor="agent:eve")

    merged = await store.get_customer(ann)
    assert sorted((i.kind, i.address) for i in merged.identities) == [
        ("email", "ann@example.com"),
        ("phone", "+14155552671"),
        ("telegram", "42"),
        ("telegram", "43"),
    ]
    assert (await store.get_customer(other)).id == ann  # the old id leads to the target
    history = await store.customer_history(ann)
    assert sorted(m.external_id for m in history.items) == [
        "e0",
        "e1",
        "e2",
        "t1",
        "t2",
        "w0",
        "w1",
    ]
    assert (await store.customer_history(other)).items == []
    moved_convs = (await store.list_conversations(channel_id="wa")).items
    assert [c.customer_id for c in moved_convs] == [ann]

    event = (await events("customer.merged"))[0]["data"]
    assert event == {
        "merge_id": merge_id,
        "source_id": other,
        "target_id": ann,
        "actor": "agent:eve",
        "moved": {"identities": 2, "conversations": 2, "messages": 3},
    }


async def test_after_a_merge_new_messages_use_the_target_conversations(
    store, two_customers, inbound
):
    ann, other, ann_telegram = two_customers
    await store.merge_customers(other, ann, actor="agent:eve")
    wa = await store.ingest(
        inbound("w9", ("phone", "+14155552671"), channel_id="wa", channel_type="whatsapp")
    )
    tg = await store.ingest(inbound("t9", ("telegram", "43")))

    assert wa.message.customer_id == tg.message.customer_id == ann
    assert not wa.conversation_created and not tg.conversation_created
    # the moved telegram conversation lost its open key to ann's own one
    assert tg.message.conversation_id == ann_telegram
    telegram = (await store.list_conversations(channel_id="tg")).items
    assert len(telegram) == 2 and {c.customer_id for c in telegram} == {ann}


async def test_unmerge_restores_exactly(store, db, two_customers, inbound, events):
    ann, other, _ = two_customers
    before = await snapshot(db)
    merge_id = await store.merge_customers(other, ann, actor="agent:eve")
    assert await snapshot(db) != before

    await store.unmerge(merge_id, actor="agent:eve")

    assert await snapshot(db) == before
    assert [e["data"]["merge_id"] for e in await events("customer.unmerged")] == [merge_id]
    again = await store.ingest(
        inbound("w5", ("phone", "+14155552671"), channel_id="wa", channel_type="whatsapp")
    )
    assert again.message.customer_id == other and not again.conversation_created
    with pytest.raises(MergeError, match="already undone"):
        await store.unmerge(merge_id, actor="agent:eve")


async def test_merge_refusals(store, two_customers):
    ann, other, _ = two_customers
    with pytest.raises(MergeError, match="itself"):
        await store.merge_customers(ann, ann, actor="a")
    with pytest.raises(NotFound):
        await store.merge_customers("01HZZZZZZZZZZZZZZZZZZZZZZZ", ann, actor="a")
    with pytest.raises(NotFound):
        await store.unmerge("01HZZZZZZZZZZZZZZZZZZZZZZZ", actor="a")
    merge_id = await store.merge_customers(other, ann, actor="a")
    with pytest.raises(MergeError, match="already merged"):
        await store.merge_customers(other, ann, actor="a")
    assert merge_id


async def test_unmerge_refuses_when_the_target_was_merged_on(store, two_customers, inbound):
    ann, other, _ = two_customers
    third = (await store.ingest(inbound("x1", ("telegram", "77")))).message.customer_id
    first = await store.merge_customers(other, ann, actor="a")
    second = await store.merge_customers(ann, third, actor="a")
    with pytest.raises(MergeError, match="undo that merge first"):
        await store.unmerge(first, actor="a")
    await store.unmerge(second, actor="a")
    await store.unmerge(first, actor="a")
    assert (await store.get_customer(other)).id == other
