"""Automatic assignment against the store: strategies, capacity, queue order, hand-out on
availability and freed capacity, idempotence."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from omnihub.store.queue import rotation_of

from .conftest import SUPERVISOR, Desk, ago



# Each case: agents online, conversations queued in a group as (customer, priority,
# minutes waiting), prior assignments as (customer, agent) that count as open load,
# and the expected assignee per queued customer (None: stays queued).
CASES = [
    pytest.param(
        {"online": ["ann", "bob", "cat"], "group": "sales",
         "queue": [("c1", 0, 30), ("c2", 0, 20), ("c3", 0, 10)],
         "expect": {"c1": "ann", "c2": "bob", "c3": "cat"}},
        id="round robin in member order"),
    pytest.param(
        {"online": ["ann", "bob", "cat"], "group": "sales", "load": [("x1", "cat")],
         "queue": [("c1", 0, 30), ("c2", 0, 20), ("c3", 0, 10), ("c4", 0, 5)],
         "expect": {"c1": "ann", "c2": "bob", "c3": "ann", "c4": "bob"}},
        id="round robin skips an agent at own capacity 1"),
    pytest.param(
        {"online": ["ann", "bob"], "group": "support", "load": [("x1", "ann")],
         "queue": [("c1", 0, 30), ("c2", 0, 20)],
         "expect": {"c1": "bob", "c2": "ann"}},
        id="least busy"),
    pytest.param(
        {"online": ["ann", "bob"], "group": "support",
         "load": [("x1", "ann"), ("x2", "ann"), ("x3", "bob")],
         "queue": [("c1", 0, 30), ("c2", 0, 20)],
         "expect": {"c1": "bob", "c2": None}},
        id="capacity exhausted: the rest waits"),
    pytest.param(
        {"online": ["ann", "bob"], "group": "returns", "load": [("c2", "bob")],
         "queue": [("c1", 0, 30), ("c2", 0, 20)],
         "expect": {"c1": "ann", "c2": "bob"}},
        id="sticky: the customer's last agent"),
    pytest.param(
        {"online": ["sam", "sue"], "group": "senior",
         "queue": [("c1", 0, 30)], "expect": {"c1": None}},
        id="manual: queue only"),
    pytest.param(
        {"online": ["bob"], "group": "support", "load": [("x1", "bob")],
         "queue": [("c1", 0, 30), ("c2", 50, 5), ("c3", 0, 60)],
         "expect": {"c2": "bob", "c1": None, "c3": None}},
        id="priority first, then longest waiting"),
    pytest.param(
        {"online": ["ann"], "away": ["bob"], "group": "support",
         "queue": [("c1", 0, 30), ("c2", 0, 20), ("c3", 0, 10)],
         "expect": {"c1": "ann", "c2": "ann", "c3": None}},
        id="away agents get nothing"),
]


@pytest.mark.parametrize("case", CASES)
async def test_hand_out(desk: Desk, case: dict) -> None:  # type: ignore[type-arg]
    await desk.online(*case["online"])
    await desk.online(*case.get("away", []), availability="away")
    conversation_of: dict[str, str] = {}
    for customer, agent in case.get("load", []):
        loaded = await desk.conversation(customer, case["group"], waiting_since=ago(90))
        await desk.set(loaded, assignee=agent)
        if customer.startswith("c"):  # an earlier conversation of a queued customer
            await desk.store.resolve(loaded, actor=SUPERVISOR)
    for customer, priority, waiting in case["queue"]:
        conversation_of[customer] = await desk.conversation(
            customer, case["group"], priority=priority, waiting_since=ago(waiting))
    await desk.assigner.serve([case["group"]])
    got = {c: (await desk.get(cid)).assignee for c, cid in conversation_of.items()}
    assert got == case["expect"]


async def test_serving_twice_assigns_nothing_twice(desk: Desk) -> None:
    await desk.online("ann", "bob")
    first = await desk.conversation("c1", "support")
    assert [a.agent for a in await desk.assigner.serve(["support"])] == ["ann"]
    assert await desk.assigner.serve(["support"]) == []
    assert len(await desk.events("conversation.assigned")) == 1
    assert (await desk.get(first)).assignee == "ann"


async def test_round_robin_pointer_survives_a_new_assigner(desk: Desk) -> None:
    from omnihub.router.assigner import Assigner

    await desk.online("ann", "bob", "cat")
    await desk.conversation("c1", "sales")
    await desk.assigner.serve(["sales"])
    assert await rotation_of(desk.db, ["sales"]) == {"sales": "ann"}
    second = await desk.conversation("c2", "sales")
    await Assigner(desk.store, desk.routing).serve(["sales"])  # e.g. after a restart
    assert (await desk.get(second)).assignee == "bob"


async def test_agent_coming_online_takes_the_queue(desk: Desk) -> None:
    waiting = [await desk.conversation(f"c{i}", "support", waiting_since=ago(10 - i))
               for i in range(3)]
    assert await desk.assigner.serve(["support"]) == []  # nobody online
    await desk.online("bob")
    envelope = (await desk.events("agent.availability"))[-1]
    await desk.assigner.handle(_envelope(envelope))
    assert [(await desk.get(c)).assignee for c in waiting] == ["bob", "bob", None]


async def test_resolving_frees_capacity_for_the_next_in_queue(desk: Desk) -> None:
    await desk.online("bob")
    first, second, third = [await desk.conversation(f"c{i}", "support", waiting_since=ago(10 - i))
                            for i in range(3)]
    await desk.assigner.serve(["support"])
    assert (await desk.get(third)).assignee is None
    await desk.store.resolve(first, actor=SUPERVISOR)
    await desk.assigner.handle(_envelope((await desk.events("conversation.resolved"))[-1]))
    assert (await desk.get(third)).assignee == "bob"


async def test_a_full_group_does_not_read_its_queue_per_event(
        desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a backlog every new conversation wakes the assigner; while no member has room
    it must not read (and sort) the whole waiting queue each time, which made catching up
    quadratic (10,000 new conversations left the consumers 21 s behind)."""
    from omnihub.store import agents as agent_store
    from omnihub.store import queue as queue_store

    await desk.online("bob")
    for i in range(3):
        await desk.conversation(f"c{i}", "support", waiting_since=ago(10 - i))
    assert len(await desk.assigner.serve(["support"])) == 2  # bob's capacity is 2
    reads: list[str] = []

    def counted(name: str, read):  # type: ignore[no-untyped-def]
        async def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            reads.append(name)
            return await read(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(agent_store, "open_loads", counted("loads", agent_store.open_loads))
    monkeypatch.setattr(queue_store, "queued", counted("queue", queue_store.queued))
    assert await desk.assigner.serve(["support"]) == []
    assert reads == ["loads"]  # the agents' loads were read, the queue was not


async def test_an_agent_going_offline_keeps_its_conversations(desk: Desk) -> None:
    await desk.online("ann")
    held = await desk.conversation("c1", "support")
    await desk.assigner.serve(["support"])
    await desk.online("ann", availability="offline")
    queued = await desk.conversation("c2", "support")
    await desk.assigner.serve(["support"])
    assert (await desk.get(held)).assignee == "ann"
    assert (await desk.get(queued)).assignee is None


async def test_a_closed_group_holds_its_left_messages_until_it_opens(desk: Desk) -> None:
    await desk.online("dan")
    left = await desk.conversation("c1", "night")
    desk.assigner.clock = lambda: datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # Saturday
    assert await desk.assigner.serve(["night"]) == []
    desk.assigner.clock = lambda: datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # Monday 09:00
    assert [a.conversation_id for a in await desk.assigner.serve(["night"])] == [left]


def _envelope(payload: dict) -> object:  # type: ignore[type-arg]
    from omnihub.hub.bus.base import Envelope

    return Envelope(seq=1, id=payload["id"], topic="event", type=payload["type"], key=None,
                    payload=payload, created_at=datetime.now(UTC))
