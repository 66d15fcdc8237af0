"""Canned replies: admins manage them, agents render and send them by shortcut."""

from __future__ import annotations

import sqlalchemy as sa

from omnihub.store.tables import customers

from .conftest import Desk

BODY = ("Hi {{ customer.name }}, your refund for order {{order.id}} ({{customer.attributes.tier}})"
        " is on its way. {{agent.name}}, ref {{conversation.id}}")


async def _set_attributes(desk: Desk, attributes: dict[str, object]) -> None:
    conv = await desk.hub.hub.store.get_conversation(desk.conversation_id)
    assert conv is not None
    async with desk.hub.hub.db.write() as conn:
        await conn.execute(sa.update(customers).where(customers.c.id == conv.customer_id)
                           .values(attributes=attributes))


async def test_admin_creates_and_everyone_reads_but_only_admin_changes(desk: Desk) -> None:
    created = await desk.ok("POST", "/api/v1/canned-replies", "admin",
                            json={"shortcut": "/refund", "body": BODY, "title": "Refund"})
    assert created["shortcut"] == "/refund" and created["created_by"] == "ada"
    listed = await desk.ok("GET", "/api/v1/canned-replies", "agent", params={"prefix": "/ref"})
    assert [r["id"] for r in listed["items"]] == [created["id"]]
    none = await desk.ok("GET", "/api/v1/canned-replies", "agent", params={"prefix": "/x"})
    assert none["items"] == []
    denied = await desk.call("PATCH", f"/api/v1/canned-replies/{created['id']}", "supervisor",
                             json={"title": "x"})
    assert denied.status == 403
    changed = await desk.ok("PATCH", f"/api/v1/canned-replies/{created['id']}", "admin",
                            json={"shortcut": "/refund-now"})
    assert changed["shortcut"] == "/refund-now" and changed["body"] == BODY
    audit = await desk.ok("GET", "/api/v1/audit", "admin", params={"target": created["id"]})
    assert [e["action"] for e in audit["items"]] == ["canned.update", "canned.create"]
    deleted = await desk.call("DELETE", f"/api/v1/canned-replies/{created['id']}", "admin")
    assert deleted.status == 204
    gone = await desk.call("GET", f"/api/v1/canned-replies/{created['id']}", "agent")
    assert gone.status == 404


async def test_unknown_variable_is_422_naming_it_and_shortcuts_are_unique(desk: Desk) -> None:
    bad = await desk.call("POST", "/api/v1/canned-replies", "admin",
                          json={"shortcut": "/hi", "body": "Hello {{ customer.email }}"})
    assert bad.status == 422
    error = (await bad.json())["error"]
    assert error["field"] == "body" and "customer.email" in error["message"]
    jinja = await desk.call("POST", "/api/v1/canned-replies", "admin",
                            json={"shortcut": "/hi", "body": "{{ ''.__class__ }}"})
    assert jinja.status == 422
    shape = await desk.call("POST", "/api/v1/canned-replies", "admin",
                            json={"shortcut": "refund", "body": "x"})
    assert shape.status == 422 and (await shape.json())["error"]["field"] == "shortcut"
    await desk.ok("POST", "/api/v1/canned-replies", "admin", json={"shortcut": "/hi", "body": "x"})
    again = await desk.call("POST", "/api/v1/canned-replies", "admin",
                            json={"shortcut": "/hi", "body": "y"})
    assert again.status == 409


async def test_preview_fills_variables_and_warns_about_missing_values(desk: Desk) -> None:
    await _set_attributes(desk, {"orders": [{"id": "A-1"}, {"id": "A-2"}]})
    created = await desk.ok("POST", "/api/v1/canned-replies", "admin",
                            json={"shortcut": "/refund", "body": BODY})
    preview = await desk.ok("GET", f"/api/v1/canned-replies/{created['id']}/render", "agent",
                            params={"conversation": desk.conversation_id})
    assert preview["text"] == (f"Hi , your refund for order A-2 () is on its way. ann, "
                               f"ref {desk.conversation_id}")
    assert preview["warnings"] == ["customer.name", "customer.attributes.tier"]
    unknown = await desk.call("GET", f"/api/v1/canned-replies/{created['id']}/render", "agent",
                              params={"conversation": "01JXXXXXXXXXXXXXXXXXXXXXXX"})
    assert unknown.status == 404


async def test_sending_by_shortcut_renders_and_queues_a_normal_reply(desk: Desk) -> None:
    conv_id = await desk.new_conversation("m-2", "c-2", "refund?")
    conv = await desk.hub.hub.store.get_conversation(conv_id)
    assert conv is not None
    async with desk.hub.hub.db.write() as conn:
        await conn.execute(sa.update(customers).where(customers.c.id == conv.customer_id).values(
            display_name="Bo", attributes={"order": {"id": 77}, "tier": "gold"}))
    await desk.ok("POST", "/api/v1/canned-replies", "admin",
                  json={"shortcut": "/refund", "body": BODY})
    resp = await desk.hub.http.post(f"/api/v1/conversations/{conv_id}/messages",
                                    json={"canned": "/refund"},
                                    headers={**desk.auth["agent"], "Idempotency-Key": "k1"})
    assert resp.status == 201, await resp.text()
    assert resp.headers["Omnihub-Canned-Warnings"] == ""
    message = await resp.json()
    assert [p["text"] for p in message["parts"]] == [
        f"Hi Bo, your refund for order 77 (gold) is on its way. ann, ref {conv_id}"]
    assert message["status"] == "queued" and message["author"] == "agent:ann"
    missing = await desk.call("POST", f"/api/v1/conversations/{conv_id}/messages", "agent",
                              json={"canned": "/nope"})
    assert missing.status == 422 and (await missing.json())["error"]["field"] == "canned"
    both = await desk.call("POST", f"/api/v1/conversations/{conv_id}/messages", "agent",
                           json={"canned": "/refund", "text": "x"})
    assert both.status == 422
