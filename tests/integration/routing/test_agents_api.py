"""Agents' availability through the API: who may set it, what it shows, and that coming
online hands the queue out."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from omnihub.store.tables import conversations, outbox

from .conftest import HubClient, api_post, routing_file


@pytest.fixture
async def desk_hub(make_hub, make_store_url, tmp_path: Path) -> HubClient:  # type: ignore[no-untyped-def]
    return await make_hub(await make_store_url("sqlite"),
                          extra={"routing": str(routing_file(tmp_path))})


async def put(client: HubClient, agent: str, availability: Any, as_: dict[str, str]) -> Any:
    return await client.http.put(f"/api/v1/agents/{agent}/availability",
                                 json={"availability": availability}, headers=as_)


# (who asks, whose availability, status expected)
WHO_MAY = [
    pytest.param(("agent", "ann"), "ann", 200, id="an agent sets its own"),
    pytest.param(("agent", "ann"), "bob", 403, id="an agent may not set another's"),
    pytest.param(("senior", "sam"), "bob", 403, id="nor may a senior"),
    pytest.param(("supervisor", "sue"), "bob", 200, id="a supervisor sets anyone's"),
]


@pytest.mark.parametrize(("who", "agent", "status"), WHO_MAY)
async def test_who_may_set_availability(desk_hub: HubClient, who: tuple[str, str], agent: str,
                                        status: int) -> None:
    resp = await put(desk_hub, agent, "online", await desk_hub.token(*who))
    assert resp.status == status, await resp.text()


@pytest.mark.parametrize("value", ["busy", None, 1])
async def test_a_bad_availability_is_422(desk_hub: HubClient, value: Any) -> None:
    resp = await put(desk_hub, "ann", value, await desk_hub.token("agent", "ann"))
    assert resp.status == 422
    assert (await resp.json())["error"]["field"] == "availability"


async def test_listing_shows_availability_capacity_and_load(desk_hub: HubClient) -> None:
    ann = await desk_hub.token("agent", "ann")
    assert (await (await put(desk_hub, "ann", "away", ann)).json())["changed"] is True
    assert (await (await put(desk_hub, "ann", "away", ann)).json())["changed"] is False
    body = await (await desk_hub.http.get("/api/v1/agents", headers=ann)).json()
    by_id = {a["id"]: a for a in body["agents"]}
    assert [a["id"] for a in body["agents"]] == ["ann", "bob", "cat", "dan", "sam", "sue"]
    assert by_id["ann"]["availability"] == "away" and by_id["bob"]["availability"] == "offline"
    assert by_id["cat"]["capacity"] == {"sales": 1}
    assert by_id["ann"]["capacity"] == {"returns": 3, "sales": 2, "support": 2}
    assert by_id["ann"]["open_conversations"] == 0


async def test_coming_online_takes_the_queue(desk_hub: HubClient) -> None:
    resp = await desk_hub.post_message(api_post("m-1", customer="c-1", text="it is broken"))
    assert resp.status == 200
    db = desk_hub.hub.db
    async with db.write() as conn:  # queued in support, whatever ingest decided
        await conn.execute(sa.update(conversations).values(skill_group="support", assignee=None))
    bob = await desk_hub.token("agent", "bob")
    body = await (await put(desk_hub, "bob", "online", bob)).json()
    # handed out by this call, or first by the assigner reacting to the event on the bus
    assert [a["agent"] for a in body["assigned"]] in (["bob"], [])
    listing = await (await desk_hub.http.get("/api/v1/agents", headers=bob)).json()
    assert {a["id"]: a["open_conversations"] for a in listing["agents"]}["bob"] == 1


async def escalated_events(client: HubClient) -> list[dict[str, Any]]:
    stmt = (sa.select(outbox.c.payload).where(outbox.c.topic == "event",
                                              outbox.c.type == "conversation.escalated")
            .order_by(outbox.c.seq))
    async with client.hub.db.read() as conn:
        return [payload["data"] for payload in (await conn.execute(stmt)).scalars()]


async def sales_conversation_of_ann(client: HubClient) -> str:
    resp = await client.post_message(api_post("m-1", customer="c-1", text="hello"))
    message = await client.hub.store.get_message((await resp.json())["messages"][0]["id"])
    assert message is not None
    async with client.hub.db.write() as conn:
        await conn.execute(sa.update(conversations).values(skill_group="sales", assignee="ann",
                                                           priority=10))
    return message.conversation_id


async def test_escalate_climbs_the_ladder_one_step_at_a_time(desk_hub: HubClient) -> None:
    """desk.yaml: step 1 notifies (no transfer), step 2 moves to senior with +30; then 409."""
    url = f"/api/v1/conversations/{await sales_conversation_of_ann(desk_hub)}/escalate"
    ann, sue = await desk_hub.token("agent", "ann"), await desk_hub.token("supervisor", "sue")
    first = await desk_hub.http.post(url, json={"reason": "angry"}, headers=ann)
    assert first.status == 200, await first.text()
    after = await first.json()
    assert (after["group"], after["assignee"], after["priority"],
            after["escalation_level"]) == ("sales", "ann", 10, 1)
    second = await desk_hub.http.post(url, json={"reason": "angrier"}, headers=sue)
    assert second.status == 200, await second.text()
    after = await second.json()
    assert (after["group"], after["assignee"], after["priority"],
            after["escalation_level"]) == ("senior", None, 40, 2)
    step1, step2 = await escalated_events(desk_hub)
    assert (step1["step"], step1["notify"]) == (
        "first-missed", {"targets": ["assignee", "role:senior"], "agents": ["ann", "sam"]})
    assert (step2["step"], step2["transfer_to"], step2["notify"]["agents"]) == (
        "first-missed-twice", "senior", ["sue"])
    third = await desk_hub.http.post(url, json={"reason": "still angry"}, headers=sue)
    assert third.status == 409
    assert "no escalation step left after level 2" in (await third.json())["error"]["message"]


async def test_an_explicit_group_wins_over_the_steps_target(desk_hub: HubClient) -> None:
    url = f"/api/v1/conversations/{await sales_conversation_of_ann(desk_hub)}/escalate"
    sue = await desk_hub.token("supervisor", "sue")
    for expected_level in (1, 2, 3):  # the third is past the ladder: allowed, a group is named
        resp = await desk_hub.http.post(url, json={"reason": "x", "group": "returns"}, headers=sue)
        assert resp.status == 200, await resp.text()
        after = await resp.json()
        assert (after["group"], after["escalation_level"]) == ("returns", expected_level)
    assert [e.get("step") for e in await escalated_events(desk_hub)] == [
        "first-missed", "first-missed-twice", None]


async def test_escalate_to_an_unknown_group_is_422(desk_hub: HubClient) -> None:
    resp = await desk_hub.post_message(api_post("m-1", customer="c-1", text="hello"))
    message = await desk_hub.hub.store.get_message((await resp.json())["messages"][0]["id"])
    assert message is not None
    resp = await desk_hub.http.post(
        f"/api/v1/conversations/{message.conversation_id}/escalate",
        json={"reason": "x", "group": "nowhere"}, headers=await desk_hub.token("supervisor", "sue"))
    assert resp.status == 422 and (await resp.json())["error"]["field"] == "group"


async def test_transfer_to_an_unknown_group_is_422_naming_it(desk_hub: HubClient) -> None:
    resp = await desk_hub.post_message(api_post("m-1", customer="c-1", text="hello"))
    message = await desk_hub.hub.store.get_message((await resp.json())["messages"][0]["id"])
    assert message is not None
    sue = await desk_hub.token("supervisor", "sue")
    url = f"/api/v1/conversations/{message.conversation_id}/transfer"
    resp = await desk_hub.http.post(url, json={"reason": "x", "group": "nowhere"}, headers=sue)
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert error["field"] == "group" and "'nowhere'" in error["message"]
    conversation = await desk_hub.hub.store.get_conversation(message.conversation_id)
    assert conversation is not None and conversation.group == "sales"  # unchanged
    resp = await desk_hub.http.post(url, json={"reason": "x", "group": "returns"}, headers=sue)
    assert resp.status == 200 and (await resp.json())["group"] == "returns"


async def test_transfer_to_an_unknown_agent_is_422_naming_it(desk_hub: HubClient) -> None:
    conversation_id = await sales_conversation_of_ann(desk_hub)
    sue = await desk_hub.token("supervisor", "sue")
    url = f"/api/v1/conversations/{conversation_id}/transfer"
    resp = await desk_hub.http.post(url, json={"reason": "x", "assignee": "zed"}, headers=sue)
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert error["field"] == "assignee" and "'zed'" in error["message"]
    conversation = await desk_hub.hub.store.get_conversation(conversation_id)
    assert conversation is not None and conversation.assignee == "ann"  # unchanged
    resp = await desk_hub.http.post(url, json={"reason": "x", "assignee": "bob"}, headers=sue)
    assert resp.status == 200 and (await resp.json())["assignee"] == "bob"


async def test_a_routed_message_is_assigned_through_the_bus(desk_hub: HubClient) -> None:
    """End to end: webhook -> ingest routes to returns -> conversation.created on the bus
    -> the assigner gives it to the online agent."""
    await put(desk_hub, "bob", "online", await desk_hub.token("agent", "bob"))
    resp = await desk_hub.post_message(api_post("m-1", customer="c-1", text="refund please"))
    message = await desk_hub.hub.store.get_message((await resp.json())["messages"][0]["id"])
    assert message is not None
    for _ in range(200):
        conversation = await desk_hub.hub.store.get_conversation(message.conversation_id)
        assert conversation is not None
        if conversation.assignee is not None:
            break
        await asyncio.sleep(0.02)
    assert (conversation.group, conversation.category, conversation.assignee) == (
        "returns", "after-sales", "bob")
