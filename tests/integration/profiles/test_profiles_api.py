"""Profile endpoints under the role table, orders idempotency over HTTP, the signed shop
webhook, and the suggestions beside a conversation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from omnihub.hub import signing
from omnihub.normalizer.ids import new_id
from omnihub.store.tables import conversations, customer_orders

from ..hub.conftest import make_hub  # noqa: F401
from ..inbox.conftest import Desk, open_desk

RULES = Path(__file__).parents[2] / "unit" / "profiles" / "customer_tags.yaml"
SHOP_SECRET = "shop-secret-0123456789abcdef"


@pytest.fixture
async def desk(make_hub, make_store_url) -> AsyncIterator[Desk]:  # type: ignore[no-untyped-def]  # noqa: F811
    extra = {"profiles": {"tag_rules": str(RULES),
                          "shop_webhook": {"secret": SHOP_SECRET, "channel": "shop"}}}
    yield await open_desk(await make_hub(await make_store_url("sqlite"), extra=extra))


async def customer_id(desk: Desk) -> str:
    conversation = await desk.hub.hub.store.get_conversation(desk.conversation_id)
    assert conversation is not None
    return conversation.customer_id


def an_order(order_id: str = "A-1", total: str = "6000.00", status: str = "paid") -> dict[str, Any]:
    placed = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    return {"order_id": order_id, "status": status, "currency": "CNY", "total": total,
            "placed_at": placed, "items": [{"name": "Kettle", "sku": "K-1", "quantity": 2,
                                            "unit_price": "3000"}]}


async def test_orders_are_idempotent_and_derive_tags(desk: Desk) -> None:
    cid = await customer_id(desk)
    first = await desk.call("POST", f"/api/v1/customers/{cid}/orders", "supervisor",
                            json=an_order())
    assert first.status == 201, await first.text()
    body = await first.json()
    assert body["total"] == "6000.00" and body["items"][0]["unit_price"] == "3000"
    again = await desk.call("POST", f"/api/v1/customers/{cid}/orders", "supervisor",
                            json=an_order(status="shipped"))
    assert again.status == 200 and (await again.json())["status"] == "shipped"
    orders = await desk.ok("GET", f"/api/v1/customers/{cid}/orders", "agent")
    assert [(o["order_id"], o["status"]) for o in orders["items"]] == [("A-1", "shipped")]
    customer = await desk.ok("GET", f"/api/v1/customers/{cid}", "agent")
    assert customer["derived_tags"] == ["vip", "new_customer"] and customer["tags"] == []


async def test_writes_need_a_supervisor_and_reads_an_agent(desk: Desk) -> None:
    cid = await customer_id(desk)
    for role in ("agent", "senior"):
        denied = await desk.call("PUT", f"/api/v1/customers/{cid}/attributes", role,
                                 json={"tier": "gold"})
        assert denied.status == 403
        denied = await desk.call("POST", f"/api/v1/customers/{cid}/orders", role,
                                 json=an_order())
        assert denied.status == 403
    for role in ("supervisor", "admin"):
        customer = await desk.ok("PUT", f"/api/v1/customers/{cid}/attributes", role,
                                 json={"tier": role, "gone": None})
        assert customer["attributes"] == {"tier": role}
    assert (await desk.ok("GET", f"/api/v1/customers/{cid}/orders", "agent"))["items"] == []


@pytest.mark.parametrize("body, field", [
    ({**an_order(), "currency": "cny"}, "currency"),
    ({**an_order(), "total": "-1"}, "total"),
    ({**an_order(), "total": "NaN"}, "total"),
    ({**an_order(), "placed_at": "2026-11-01T10:00:00"}, "placed_at"),
    ({**an_order(), "surprise": 1}, "surprise"),
])
async def test_a_bad_order_is_422_naming_the_field(desk: Desk, body: dict[str, Any],
                                                   field: str) -> None:
    resp = await desk.call("POST", f"/api/v1/customers/{await customer_id(desk)}/orders",
                           "supervisor", json=body)
    assert resp.status == 422
    assert (await resp.json())["error"]["field"] == field


async def test_unknown_customer_and_bad_attributes(desk: Desk) -> None:
    missing = await desk.call("POST", "/api/v1/customers/01JXXXXXXXXXXXXXXXXXXXXXXX/orders",
                              "supervisor", json=an_order())
    assert missing.status == 404
    cid = await customer_id(desk)
    for raw in (b"[1]", b"{", b'"x"'):
        resp = await desk.call("PUT", f"/api/v1/customers/{cid}/attributes", "supervisor",
                               data=raw)
        assert resp.status == 422


def shop_signed(body: dict[str, Any], secret: str = SHOP_SECRET) -> tuple[bytes, dict[str, str]]:
    raw = orjson.dumps(body)
    return raw, {signing.HEADER: signing.sign(secret, raw), "Content-Type": "application/json"}


async def stored_orders(desk: Desk) -> int:
    async with desk.hub.hub.db.read() as conn:
        return int((await conn.execute(sa.select(sa.func.count())
                                       .select_from(customer_orders))).scalar() or 0)


async def test_the_shop_webhook_finds_the_customer_by_its_external_id(desk: Desk) -> None:
    event = {"customer": {"external_id": "c-1"}, "order": an_order("B-7", "12.50"),
             "attributes": {"tier": "silver"}}
    raw, headers = shop_signed(event)
    resp = await desk.hub.http.post("/shop/webhook", data=raw, headers=headers)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["customer_id"] == await customer_id(desk) and body["created"] is True
    assert body["attributes"] == {"tier": "silver"} and body["order"]["order_id"] == "B-7"
    again = await desk.hub.http.post("/shop/webhook", data=raw, headers=headers)
    assert (await again.json())["created"] is False
    assert await stored_orders(desk) == 1


async def test_a_bad_signature_is_403_and_stores_nothing(desk: Desk) -> None:
    event = {"customer": {"external_id": "c-1"}, "order": an_order()}
    raw, headers = shop_signed(event, secret="not-the-shop-secret-at-all")
    assert (await desk.hub.http.post("/shop/webhook", data=raw, headers=headers)).status == 403
    unsigned = await desk.hub.http.post("/shop/webhook", data=raw,
                                        headers={"Content-Type": "application/json"})
    assert unsigned.status == 403
    _, good = shop_signed(event)
    tampered = raw.replace(b"6000.00", b"1.00")
    assert (await desk.hub.http.post("/shop/webhook", data=tampered, headers=good)).status == 403
    assert await stored_orders(desk) == 0
    customer = await desk.hub.hub.store.get_customer(await customer_id(desk))
    assert customer is not None and customer.attributes == {}


async def test_the_shop_webhook_refuses_strangers_and_bad_bodies(desk: Desk) -> None:
    raw, headers = shop_signed({"customer": {"email": "nobody@example.com"},
                                "order": an_order()})
    resp = await desk.hub.http.post("/shop/webhook", data=raw, headers=headers)
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "unknown_customer"
    raw, headers = shop_signed({"customer": {"external_id": "c-1"}})
    resp = await desk.hub.http.post("/shop/webhook", data=raw, headers=headers)
    assert resp.status == 422
    assert await stored_orders(desk) == 0


async def test_suggestions_bring_orders_other_conversations_and_fitting_replies(desk: Desk
                                                                                ) -> None:
    cid = await customer_id(desk)
    await desk.ok("POST", f"/api/v1/customers/{cid}/orders", "supervisor", json=an_order())
    for shortcut, body in (("/parcel", "Your parcel is on its way; track it here."),
                           ("/refund", "Your refund reaches your card in 5 days."),
                           ("/hello", "Hello! How can I help?")):
        await desk.ok("POST", "/api/v1/canned-replies", "admin",
                      json={"shortcut": shortcut, "body": body})
    now = datetime.now(UTC)
    other = new_id()
    async with desk.hub.hub.db.write() as conn:  # the same customer, open on the web chat
        await conn.execute(sa.insert(conversations).values(
            id=other, customer_id=cid, channel_id="web", channel_type="webchat",
            open_key=f"{cid}|web|", status="open", priority=0, tags=[],
            last_message_at=now, created_at=now, updated_at=now, escalation_level=0))
    found = await desk.ok("GET", f"/api/v1/conversations/{desk.conversation_id}/suggestions")
    assert found["question"] == "where is my parcel?"
    assert [r["shortcut"] for r in found["canned_replies"]] == ["/parcel"]
    assert [o["order_id"] for o in found["recent_orders"]] == ["A-1"]
    assert [(c["id"], c["channel_id"]) for c in found["open_conversations"]] == [(other, "web")]
    assert found["derived_tags"] == ["vip", "new_customer"]
    assert isinstance(found["knowledge_base"], list)
    missing = await desk.call("GET", "/api/v1/conversations/01JXXXXXXXXXXXXXXXXXXXXXXX/suggestions")
    assert missing.status == 404


async def test_suggestions_include_the_best_knowledge_base_entries(desk: Desk) -> None:
    from omnihub.kb import store as kb_store
    from omnihub.kb.models import EntryIn

    await kb_store.create_entry(desk.hub.hub.db, EntryIn(
        question="Where is my parcel?", paraphrases=["How do I track my parcel?"],
        answer="Track your parcel with the link in your shipping e-mail."), actor="ada")
    await kb_store.create_entry(desk.hub.hub.db, EntryIn(
        question="How long does a refund take?", answer="3 to 5 working days."), actor="ada")
    found = await desk.ok("GET", f"/api/v1/conversations/{desk.conversation_id}/suggestions")
    assert found["knowledge_base"], found
    best = found["knowledge_base"][0]
    assert best["entry"]["question"] == "Where is my parcel?"
    assert best["answer"].startswith("Track your parcel")
