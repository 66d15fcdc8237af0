"""Editing and recalling agents' messages within the configured window, and read markers."""

from __future__ import annotations

import sqlalchemy as sa

from omnihub.store.tables import message_edits, outbox

from .conftest import Desk, open_desk


async def note(desk: Desk, role: str = "agent", text: str = "draft") -> dict:  # type: ignore[type-arg]
    return await desk.ok("POST", f"/api/v1/conversations/{desk.conversation_id}/messages", role,
                         json={"text": text, "private": True})


async def test_edit_within_limits_emits_message_updated(make_hub, make_store_url) -> None:  # type: ignore[no-untyped-def]
    hub = await make_hub(await make_store_url("sqlite"), extra={"inbox": {"max_edits": 2}})
    desk = await open_desk(hub)
    message = await note(desk)
    url = f"/api/v1/messages/{message['id']}"
    first = await desk.ok("PATCH", url, json={"text": "fixed"})
    assert first["channel_update"] == "not_needed"
    assert first["message"]["parts"][0]["text"] == "fixed" and first["message"]["edited_at"]
    await desk.ok("PATCH", url, json={"text": "fixed twice"})
    third = await desk.call("PATCH", url, json={"text": "again"})
    assert third.status == 409 and "2 times" in (await third.json())["error"]["message"]
    assert (await desk.call("PATCH", url, "senior", json={"text": "not mine"})).status == 403
    async with hub.hub.db.read() as conn:
        before = list((await conn.execute(sa.select(message_edits.c.before_parts)
                                          .order_by(message_edits.c.id))).scalars())
        updates = list((await conn.execute(sa.select(outbox.c.payload).where(
            outbox.c.type == "message.updated").order_by(outbox.c.seq))).scalars())
    assert [p[0]["text"] for p in before] == ["draft", "fixed"]
    assert [u["data"]["parts"][0]["text"] for u in updates] == ["fixed", "fixed twice"]
    assert updates[0]["data"]["update"] == "edit"
    audit = await desk.ok("GET", "/api/v1/audit", "supervisor", params={"target": message["id"]})
    assert [e["action"] for e in audit["items"]] == ["message.edit", "message.edit", "message.note"]


async def test_recall_of_a_queued_reply_stops_its_delivery(desk: Desk) -> None:
    reply = await desk.ok("POST", f"/api/v1/conversations/{desk.conversation_id}/messages",
                          json={"text": "oops"})
    recalled = await desk.ok("POST", f"/api/v1/messages/{reply['id']}/recall")
    assert recalled["message"]["recalled_at"] is not None
    assert recalled["message"]["status"] == "failed"
    assert recalled["channel_update"] == "not_sent"
    again = await desk.call("POST", f"/api/v1/messages/{reply['id']}/recall")
    assert again.status == 409
    assert (await desk.call("POST", "/api/v1/messages/nope/recall")).status == 404


async def test_supervisor_may_edit_anyones_and_the_window_closes(make_hub, make_store_url) -> None:  # type: ignore[no-untyped-def]
    hub = await make_hub(await make_store_url("sqlite"),
                         extra={"inbox": {"edit_window_seconds": 0}})
    desk = await open_desk(hub)
    message = await note(desk)
    closed = await desk.call("PATCH", f"/api/v1/messages/{message['id']}", "supervisor",
                             json={"text": "late"})
    assert closed.status == 409 and "window" in (await closed.json())["error"]["message"]
    bad = await desk.call("PATCH", f"/api/v1/messages/{message['id']}", json={"txt": "x"})
    assert bad.status == 422 and (await bad.json())["error"]["field"] == "txt"


async def test_customer_messages_are_not_editable(desk: Desk) -> None:
    page = await desk.ok("GET", f"/api/v1/conversations/{desk.conversation_id}/messages")
    inbound = page["items"][-1]
    resp = await desk.call("PATCH", f"/api/v1/messages/{inbound['id']}", "admin",
                           json={"text": "rewritten"})
    assert resp.status == 409


async def test_read_markers_only_move_forward(desk: Desk) -> None:
    conv = desk.conversation_id
    first = (await desk.ok("GET", f"/api/v1/conversations/{conv}/messages"))["items"][0]["id"]
    later = (await note(desk))["id"]
    url = f"/api/v1/conversations/{conv}/read"
    assert (await desk.ok("PUT", url, json={"message_id": later}))["message_id"] == later
    assert (await desk.ok("PUT", url, json={"message_id": first}))["message_id"] == later
    await desk.ok("PUT", url, "senior", json={"message_id": first})
    markers = (await desk.ok("GET", url))["items"]
    assert [(m["agent"], m["message_id"]) for m in markers] == [("ann", later), ("sam", first)]
    other = await desk.new_conversation("m-2", "c-2")
    foreign = (await desk.ok("GET", f"/api/v1/conversations/{other}/messages"))["items"][0]["id"]
    assert (await desk.call("PUT", url, json={"message_id": foreign})).status == 404
    resp = await desk.call("PUT", url, json={})
    assert resp.status == 422 and (await resp.json())["error"]["field"] == "message_id"
