"""Orders, attributes and derived tags in the store, on every backend, on a test clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from omnihub.normalizer.ids import new_id
from omnihub.profiles.rules import load_tag_rules
from omnihub.profiles.service import ProfileService
from omnihub.store import profiles
from omnihub.store.audit import Actor
from omnihub.store.tables import conversations, customer_orders

from ..routing.conftest import Desk, open_desk

RULES = load_tag_rules(Path(__file__).parents[2] / "unit" / "profiles" / "customer_tags.yaml")
SHOP = Actor("shop", "supervisor")
DAY = timedelta(days=1)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
async def desk(request: pytest.FixtureRequest, make_store_url, tmp_path: Path
               ) -> AsyncIterator[Desk]:  # type: ignore[no-untyped-def]
    async for opened in open_desk(await make_store_url(request.param), tmp_path):
        yield opened


def order(order_id: str, total: str, placed_at: datetime, status: str = "paid"
          ) -> profiles.OrderFields:
    return profiles.OrderFields(order_id=order_id, status=status, currency="CNY",
                                total=Decimal(total), items=[{"name": "Kettle"}],
                                placed_at=placed_at)


async def customer_of(desk: Desk, conversation_id: str) -> str:
    return (await desk.get(conversation_id)).customer_id


async def test_an_order_posted_twice_is_stored_once_and_updated(desk: Desk) -> None:
    customer_id = await customer_of(desk, await desk.message("m-1", "c-1"))
    placed = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
    first, created = await profiles.upsert_order(desk.db, customer_id,
                                                 order("A-1", "99.50", placed), actor=SHOP)
    assert created and first.total == "99.50"
    again, created = await profiles.upsert_order(
        desk.db, customer_id, order("A-1", "99.50", placed, "shipped"), actor=SHOP)
    assert not created and again.status == "shipped" and again.created_at == first.created_at
    listed = await profiles.list_orders(desk.db, customer_id)
    assert [(o.order_id, o.status, o.total, o.placed_at) for o in listed] == [
        ("A-1", "shipped", "99.50", placed)]
    async with desk.db.read() as conn:
        count = (await conn.execute(sa.select(sa.func.count()).select_from(customer_orders))
                 ).scalar()
    assert count == 1


async def test_attributes_merge_key_by_key_and_null_removes(desk: Desk) -> None:
    customer_id = await customer_of(desk, await desk.message("m-1", "c-1"))
    await profiles.merge_attributes(desk.db, customer_id,
                                    {"tier": "gold", "address": {"city": "Hangzhou", "zip": "1"}},
                                    actor=SHOP)
    after = await profiles.merge_attributes(desk.db, customer_id,
                                            {"address": {"zip": None}, "note": "x"}, actor=SHOP)
    assert after == {"tier": "gold", "address": {"city": "Hangzhou"}, "note": "x"}
    customer = await desk.store.get_customer(customer_id)
    assert customer is not None and customer.attributes == after


async def test_derived_tags_follow_orders_and_expire_on_the_clock(desk: Desk) -> None:
    clock = Clock()
    service = ProfileService(desk.db, RULES, clock=clock)
    customer_id = await customer_of(desk, await desk.message("m-1", "c-1"))
    # a brand-new customer: new_customer until 30 days after first seen
    assert await service.recompute(customer_id) == ["new_customer"]
    await profiles.upsert_order(desk.db, customer_id, order("A-1", "6000", clock.now - DAY),
                                actor=SHOP)
    assert await service.recompute(customer_id) == ["vip", "new_customer"]
    customer = await desk.store.get_customer(customer_id)
    assert customer is not None
    assert customer.derived_tags == ["vip", "new_customer"] and customer.tags == []

    clock.now += 31 * DAY  # new_customer expires; the clock finds the profile due
    assert await service.run_due() == 1
    assert (await profiles.derived_tags_of(desk.db, customer_id))[0] == ["vip"]
    assert await service.run_due() == 0  # nothing more is due yet
    clock.now += 334 * DAY  # 365 days after the order
    assert await service.run_due() == 1
    assert (await profiles.derived_tags_of(desk.db, customer_id))[0] == []


async def test_recompute_never_touches_the_tags_an_agent_set(desk: Desk) -> None:
    from omnihub.store.tables import customers

    service = ProfileService(desk.db, RULES, clock=Clock())
    customer_id = await customer_of(desk, await desk.message("m-1", "c-1"))
    async with desk.db.write() as conn:
        await conn.execute(sa.update(customers).where(customers.c.id == customer_id)
                           .values(tags=["vip", "wholesale"]))
    assert await service.recompute(customer_id) == ["new_customer"]
    customer = await desk.store.get_customer(customer_id)
    assert customer is not None and customer.tags == ["vip", "wholesale"]


async def test_complaints_in_the_history_tag_the_customer(desk: Desk) -> None:
    conversation_id = await desk.message("m-1", "c-1", "my kettle arrived broken")
    service = ProfileService(desk.db, RULES, clock=Clock())  # a clock after the message
    customer_id = await customer_of(desk, conversation_id)
    assert "complained_recently" not in await service.recompute(customer_id)
    async with desk.db.write() as conn:
        await conn.execute(sa.update(conversations).where(conversations.c.id == conversation_id)
                           .values(category="complaint"))
    assert "complained_recently" in await service.recompute(customer_id)


async def test_routing_sees_derived_tags(desk: Desk) -> None:
    """desk.yaml raises the priority of customers tagged vip by 20."""
    service = ProfileService(desk.db, RULES, clock=Clock())
    first = await desk.get(await desk.message("m-1", "c-1"))
    await profiles.upsert_order(desk.db, first.customer_id,
                                order("A-1", "8000", datetime.now(UTC) - DAY), actor=SHOP)
    await service.recompute(first.customer_id)
    await desk.store.resolve(first.id, actor=SHOP)
    second = await desk.get(await desk.message("m-2", "c-1", "hello again"))
    assert second.id != first.id
    assert second.priority == first.priority + 20
    assert "vip" in second.tags


async def test_a_conversation_event_recomputes_its_customer(desk: Desk) -> None:
    from omnihub.hub.bus import Envelope

    conversation_id = await desk.message("m-1", "c-1", "this is unacceptable")
    conversation = await desk.get(conversation_id)
    async with desk.db.write() as conn:
        await conn.execute(sa.update(conversations).where(conversations.c.id == conversation_id)
                           .values(category="complaint"))
    service = ProfileService(desk.db, RULES, clock=Clock())
    closed = (await desk.events("conversation.created"))[0]  # its payload has the customer
    envelope = Envelope(seq=1, id=new_id(), topic="event", type="conversation.closed",
                        key=conversation_id, payload=closed, created_at=datetime.now(UTC))
    await service.handle(envelope)
    tags, facts = await profiles.derived_tags_of(desk.db, conversation.customer_id)
    assert "complained_recently" in tags
    assert facts["complained_recently"]["conversations"] == 1


async def test_a_merge_moves_orders_and_tags_to_the_surviving_customer(desk: Desk) -> None:
    from omnihub.hub.bus import Envelope

    source = await customer_of(desk, await desk.message("m-1", "c-1"))
    target = await customer_of(desk, await desk.message("m-2", "c-2"))
    await profiles.upsert_order(desk.db, source, order("A-1", "7000", datetime.now(UTC) - DAY),
                                actor=SHOP)
    merge_id = await desk.store.merge_customers(source, target, actor="agent:sue")
    service = ProfileService(desk.db, RULES, clock=Clock())
    await service.handle(Envelope(
        seq=1, id=new_id(), topic="event", type="customer.merged", key=None,
        payload={"data": {"merge_id": merge_id, "source_id": source, "target_id": target}},
        created_at=datetime.now(UTC)))
    assert [o.order_id for o in await profiles.list_orders(desk.db, target)] == ["A-1"]
    assert "vip" in (await profiles.derived_tags_of(desk.db, target))[0]
