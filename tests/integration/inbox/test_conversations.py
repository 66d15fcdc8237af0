"""Conversation operations over the API: state, events and audit entries, filters, scope."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from omnihub.store.tables import outbox

from .conftest import Desk, open_desk


async def events(desk: Desk, type: str | None = None) -> list[dict[str, Any]]:
    stmt = sa.select(outbox.c.payload).where(outbox.c.topic == "event").order_by(outbox.c.seq)
    if type is not None:
        stmt = stmt.where(outbox.c.type == type)
    async with desk.hub.hub.db.read() as conn:
        return list((await conn.execute(stmt)).scalars())


async def test_lifecycle_writes_state_event_and_audit_per_operation(desk: Desk) -> None:
    conv = desk.conversation_id
    base = f"/api/v1/conversations/{conv}"
    assigned = await desk.ok("POST", f"{base}/assign", json={"assignee": "ann"})
    assert assigned["assignee"] == "ann"
    moved = await desk.ok("POST", f"{base}/transfer", json={"group": "logistics",
                                                            "reason": "parcel lost"})
    assert moved["group"] == "logistics" and moved["assignee"] is None
    updated = await desk.ok("PATCH", base, json={"priority": 70, "category": "after-sales",
                                                 "add_tags": ["vip", "parcel"]})
    assert (updated["priority"], updated["category"], updated["tags"]) == (
        70, "after-sales", ["vip", "parcel"])
    resolved = await desk.ok("POST", f"{base}/resolve")
    assert resolved["status"] == "resolved" and resolved["resolved_at"]
    reopened = await desk.ok("POST", f"{base}/reopen", json={})
    assert reopened["status"] == "open" and reopened["resolved_at"] is None
    closed = await desk.ok("POST", f"{base}/close")
    assert closed["status"] == "closed"

    types = [e["type"] for e in await events(desk)]
    assert types[-7:] == ["conversation.assigned", "conversation.transferred",
                          "conversation.updated", "conversation.resolved",
                          "conversation.reopened", "conversation.closed",
                          "message.sent"]  # the satisfaction survey (inbox.csat)
    transfer = (await events(desk, "conversation.transferred"))[0]["data"]
    assert transfer["reason"] == "parcel lost" and transfer["actor"] == "agent:ann"
    assert transfer["from"] == {"group": None, "assignee": "ann"}
    assert transfer["conversation"]["group"] == "logistics"

    audit = await desk.ok("GET", "/api/v1/audit", "supervisor", params={"target": conv})
    actions = [entry["action"] for entry in audit["items"]]
    assert actions == ["conversation.close", "conversation.reopen", "conversation.resolve",
                       "conversation.update", "conversation.transfer", "conversation.assign"]
    first = audit["items"][-1]
    assert first["actor"] == "ann" and first["role"] == "agent"
    assert first["before"]["assignee"] is None and first["after"]["assignee"] == "ann"


async def test_no_op_writes_nothing(desk: Desk) -> None:
    base = f"/api/v1/conversations/{desk.conversation_id}"
    await desk.ok("POST", f"{base}/assign", json={"assignee": "ann"})
    before = len(await events(desk))
    again = await desk.ok("POST", f"{base}/assign", json={"assignee": "ann"})
    assert again["assignee"] == "ann"
    assert len(await events(desk)) == before


async def test_reopen_refused_while_the_customer_has_another_open_conversation(desk: Desk) -> None:
    first = desk.conversation_id
    await desk.ok("POST", f"/api/v1/conversations/{first}/resolve")
    second = await desk.new_conversation("m-2", "c-1", "another question")
    assert second != first
    resp = await desk.call("POST", f"/api/v1/conversations/{first}/reopen")
    assert resp.status == 409
    error = (await resp.json())["error"]
    assert error["code"] == "open_conversation_exists" and error["other_id"] == second
    await desk.ok("POST", f"/api/v1/conversations/{second}/close")
    assert (await desk.ok("POST", f"/api/v1/conversations/{first}/reopen"))["status"] == "open"
    # and the customer's next message joins the reopened conversation
    assert await desk.new_conversation("m-3", "c-1") == first


async def test_invalid_transitions_and_bodies(desk: Desk) -> None:
    base = f"/api/v1/conversations/{desk.conversation_id}"
    resp = await desk.call("POST", f"{base}/reopen")
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "invalid_transition"
    cases = [
        ("POST", f"{base}/transfer", {"reason": "x"}, "(body)"),
        ("POST", f"{base}/transfer", {"group": "g"}, "reason"),
        ("POST", f"{base}/assign", {}, "assignee"),
        ("POST", f"{base}/assign", {"assignee": "ann", "x": 1}, "x"),
        ("PATCH", base, {"priority": "high"}, "priority"),
        ("PATCH", base, {}, "(body)"),
        ("POST", f"{base}/snooze", {"until": "2020-01-01T00:00:00"}, "until"),
        ("POST", f"{base}/snooze", {"until": "2020-01-01T00:00:00Z"}, "until"),
        ("POST", f"{base}/escalate", {"reason": ""}, "reason"),
    ]
    for method, url, body, field in cases:
        resp = await desk.call(method, url, json=body)
        assert resp.status == 422, (url, body, resp.status)
        assert (await resp.json())["error"]["field"] == field, (url, body)
    broken = await desk.call("POST", f"{base}/assign", data=b"{not json")
    assert broken.status == 422
    for url in ("/api/v1/conversations/nope/resolve", "/api/v1/conversations/nope"):
        assert (await desk.call("POST" if "resolve" in url else "GET", url)).status == 404
    assert (await desk.call("PUT", "/api/v1/conversations/nope/watchers/ann")).status == 404


async def test_snooze_and_wake(desk: Desk) -> None:
    base = f"/api/v1/conversations/{desk.conversation_id}"
    until = datetime.now(UTC) + timedelta(hours=1)
    snoozed = await desk.ok("POST", f"{base}/snooze", json={"until": until.isoformat()})
    assert snoozed["status"] == "snoozed"
    store = desk.hub.hub.store
    assert await store.wake_snoozed() == []
    assert await store.wake_snoozed(now=until + timedelta(seconds=1)) == [desk.conversation_id]
    assert (await desk.ok("GET", base))["status"] == "open"


async def test_agents_take_and_hand_back_but_only_supervisors_reassign(desk: Desk) -> None:
    base = f"/api/v1/conversations/{desk.conversation_id}"
    assert (await desk.call("POST", f"{base}/assign", json={"assignee": "bob"})).status == 403
    await desk.ok("POST", f"{base}/assign", json={"assignee": "ann"})
    taken = await desk.call("POST", f"{base}/assign", "senior", json={"assignee": "sam"})
    assert taken.status == 403
    assert (await desk.ok("POST", f"{base}/assign", "supervisor",
                          json={"assignee": "sam"}))["assignee"] == "sam"


async def test_escalated_conversations_are_for_seniors(desk: Desk) -> None:
    base = f"/api/v1/conversations/{desk.conversation_id}"
    escalated = await desk.ok("POST", f"{base}/escalate", json={"reason": "angry", "priority": 90})
    assert escalated["escalation_level"] == 1 and escalated["priority"] == 90
    assert (await desk.call("POST", f"{base}/resolve")).status == 403
    assert (await desk.ok("POST", f"{base}/resolve", "senior"))["status"] == "resolved"
    data = (await events(desk, "conversation.escalated"))[0]["data"]
    assert data["level"] == 1 and data["reason"] == "angry"


async def test_filters(desk: Desk) -> None:
    other = await desk.new_conversation("m-2", "c-2", "我要退款 please")
    await desk.ok("POST", f"/api/v1/conversations/{other}/assign", json={"assignee": "ann"})
    await desk.ok("PATCH", f"/api/v1/conversations/{other}", json={"priority": 80,
                                                                     "category": "refund"})

    async def ids(**params: str) -> list[str]:
        page = await desk.ok("GET", "/api/v1/conversations", params=params)
        return [c["id"] for c in page["items"]]

    first = desk.conversation_id
    assert await ids() == [other, first]
    assert await ids(q="退款") == [other]
    assert await ids(q="parcel") == [first]
    assert await ids(q="100%") == []
    assert await ids(assignee="me") == [other]
    assert await ids(unassigned="true") == [first]
    assert await ids(priority="50") == [other]
    assert await ids(category="refund") == [other]
    assert await ids(channel="shop", status="open") == [other, first]
    assert await ids(overdue="true") == []
    assert await ids(group="logistics") == []
    page = await desk.ok("GET", "/api/v1/conversations", params={"limit": "1"})
    rest = await desk.ok("GET", "/api/v1/conversations",
                         params={"limit": "1", "cursor": page["next_cursor"]})
    assert [c["id"] for c in rest["items"]] == [first]
    for name, value in (("overdue", "maybe"), ("priority", "x"), ("status", "gone"),
                        ("cursor", "garbage")):
        resp = await desk.call("GET", "/api/v1/conversations", params={name: value})
        assert resp.status == 422 and (await resp.json())["error"]["field"] == name


ROUTING = {
    "groups": {"logistics": {"agents": ["ann"]}, "sales": {"agents": ["bob"]}},
    "agents": [{"id": "ann"}, {"id": "bob"}],
}


async def test_agents_see_their_groups_unrouted_and_watched(make_hub, make_store_url,
                                                              tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    routing = tmp_path / "routing.yaml"
    routing.write_text(json.dumps(ROUTING))
    hub = await make_hub(await make_store_url("sqlite"), extra={"routing": str(routing)})
    desk = await open_desk(hub)
    bob = await hub.token("agent", "bob")
    logistics, sales = desk.conversation_id, await desk.new_conversation("m-2", "c-2")
    unrouted = await desk.new_conversation("m-3", "c-3")
    await desk.ok("POST", f"/api/v1/conversations/{logistics}/transfer", "supervisor",
                  json={"group": "logistics", "reason": "routing"})
    await desk.ok("POST", f"/api/v1/conversations/{sales}/transfer", "supervisor",
                  json={"group": "sales", "reason": "routing"})

    async def listed(headers: dict[str, str]) -> set[str]:
        page = await (await hub.http.get("/api/v1/conversations", headers=headers)).json()
        return {c["id"] for c in page["items"]}

    assert await listed(desk.auth["agent"]) == {logistics, unrouted}
    assert await listed(bob) == {sales, unrouted}
    assert await listed(desk.auth["supervisor"]) == {logistics, sales, unrouted}
    assert (await desk.call("GET", f"/api/v1/conversations/{sales}")).status == 403
    assert (await desk.call("POST", f"/api/v1/conversations/{sales}/resolve")).status == 403
    # bob invites ann (logistics) to watch his sales conversation
    resp = await hub.http.put(f"/api/v1/conversations/{sales}/watchers/ann", headers=bob)
    assert resp.status == 200 and (await resp.json())["watchers"] == ["ann"]
    assert await listed(desk.auth["agent"]) == {logistics, sales, unrouted}
    assert (await desk.call("GET", f"/api/v1/conversations/{sales}")).status == 200
    await desk.ok("DELETE", f"/api/v1/conversations/{sales}/watchers/ann")
    assert await listed(desk.auth["agent"]) == {logistics, unrouted}
