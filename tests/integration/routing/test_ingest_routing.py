"""Routing applied inside the ingest transaction: a new conversation is created with its
category, group, priority, tags and due times; later customer messages re-arm the
next-response clock and wake a snoozed conversation; off hours send an auto-reply."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from omnihub.hub.bus.base import Envelope
from omnihub.store.tables import customers

from .conftest import SUPERVISOR, Desk, open_desk

# (customer tags, text, category, group, priority, tags)
ROUTES = [
    pytest.param([], "hello there", "inquiry", "sales", 40, [], id="catch-all"),
    pytest.param([], "I want a REFUND", "after-sales", "returns", 45, ["refund"], id="keyword"),
    pytest.param([], "我要退款", "after-sales", "returns", 45, ["refund"], id="chinese keyword"),
    pytest.param([], "my phone is broken", "repair", "support", 40, [], id="second rule"),
    pytest.param(["vip"], "refund please", "after-sales", "returns", 65, ["vip", "refund"],
                 id="customer tag bumps priority"),
]


@pytest.mark.parametrize(("customer_tags", "text", "category", "group", "priority", "tags"),
                         ROUTES)
async def test_new_conversation_is_routed(desk: Desk, customer_tags: list[str], text: str,
                                          category: str, group: str, priority: int,
                                          tags: list[str]) -> None:
    if customer_tags:  # an existing customer with tags opens a new conversation
        earlier = await desk.message("m-0", "c1")
        await desk.store.resolve(earlier, actor=SUPERVISOR)
        async with desk.db.write() as conn:
            await conn.execute(sa.update(customers).values(tags=customer_tags))
    conversation_id = await desk.message("m-1", "c1", text)
    conv = await desk.get(conversation_id)
    assert (conv.category, conv.group, conv.priority, conv.tags) == (category, group, priority, tags)
    assert conv.first_response_due == conv.created_at + timedelta(minutes=10)
    assert conv.resolution_due == conv.created_at + timedelta(days=1)
    assert conv.next_response_due is None
    created = (await desk.events("conversation.created"))[-1]["data"]
    assert created["group"] == group and created["routing"]["off_hours"] is False


async def test_next_response_clock_is_rearmed_and_cleared(desk: Desk) -> None:
    conversation_id = await desk.message("m-1", "c1")
    again = await desk.message("m-2", "c1")  # still waiting for the first answer
    assert again == conversation_id and (await desk.get(again)).next_response_due is None
    await desk.store.queue_reply(conversation_id, [{"kind": "text", "text": "hi"}],
                                 author="agent:ann")
    before = datetime.now(UTC)
    await desk.message("m-3", "c1")
    armed = (await desk.get(conversation_id)).next_response_due
    assert armed is not None
    assert before + timedelta(minutes=20) <= armed <= datetime.now(UTC) + timedelta(minutes=20)
    await desk.message("m-4", "c1")  # still the same wait: the deadline does not move
    assert (await desk.get(conversation_id)).next_response_due == armed
    await desk.store.queue_reply(conversation_id, [{"kind": "text", "text": "done"}],
                                 author="agent:ann")
    assert (await desk.get(conversation_id)).next_response_due is None


async def test_a_customer_message_wakes_a_snoozed_conversation(desk: Desk) -> None:
    conversation_id = await desk.message("m-1", "c1")
    await desk.store.snooze(conversation_id, datetime.now(UTC) + timedelta(days=1),
                            actor=SUPERVISOR)
    assert await desk.message("m-2", "c1") == conversation_id
    conv = await desk.get(conversation_id)
    assert (conv.status, conv.snoozed_until) == ("open", None)
    reopened = await desk.events("conversation.reopened")
    assert [e["data"]["conversation"]["id"] for e in reopened] == [conversation_id]
    assert reopened[0]["data"]["reason"] == "customer wrote"


def closed_today_routing(tmp_path: Path, now: datetime) -> tuple[Path, datetime]:
    """The desk with the night group open only two days from now, 09:00-17:00 UTC."""
    day = now + timedelta(days=2)
    weekday = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[day.weekday()]
    text = (Path(__file__).parent / "data" / "desk.yaml").read_text()
    start = text.index("    hours:\n") + len("    hours:\n")
    end = text.index("channels:")
    path = tmp_path / "closed" / "routing.yaml"
    path.parent.mkdir()
    path.write_text(text[:start] + f'      {weekday}: "09:00-17:00"\n' + text[end:])
    opens = datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)
    return path, opens


async def test_off_hours_auto_reply_and_paused_clock(make_store_url, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, opens = closed_today_routing(tmp_path, datetime.now(UTC))
    async for desk in open_desk(await make_store_url("sqlite"), tmp_path, routing=path):
        await desk.online("dan")
        conversation_id = await desk.message("m-1", "c1", "can you call me tonight?")
        conv = await desk.get(conversation_id)
        assert (conv.group, conv.status) == ("night", "open")
        assert conv.first_response_due == opens + timedelta(minutes=10)
        created = (await desk.events("conversation.created"))[-1]
        assert created["data"]["routing"]["off_hours"] is True
        await desk.assigner.handle(_envelope(created))
        await desk.assigner.handle(_envelope(created))  # redelivered: still one reply
        page = await desk.store.conversation_messages(conversation_id)
        replies = [m for m in page.items if m.direction == "out"]
        assert len(replies) == 1 and replies[0].author == "system"
        assert f"reply from {opens:%Y-%m-%d} 09:00" in replies[0].parts[0].text  # type: ignore[union-attr]
        conv = await desk.get(conversation_id)
        assert conv.first_response_at is None and conv.assignee is None  # held until opening


def _envelope(payload: dict) -> Envelope:  # type: ignore[type-arg]
    return Envelope(seq=1, id=payload["id"], topic="event", type=payload["type"], key=None,
                    payload=payload, created_at=datetime.now(UTC))
