"""Assignment strategies and the queue, table-driven where the shape allows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from omnihub.router import AgentState, Group, Queue, QueueEntry, Rotation, hand_out, pick_agent

from .conftest import load_cases

CASES = load_cases("assign_cases.yaml")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def state(spec: list[Any]) -> AgentState:
    return AgentState(spec[0], spec[1], spec[2] if len(spec) > 2 else None)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_pick_agent(case: dict[str, Any]) -> None:
    group = Group("g", tuple(case["group"]["agents"]), case["strategy"], case["group"]["capacity"])
    states = {agent: state(spec) for agent, spec in case["states"].items()}
    rotation = Rotation({"g": case["last"]} if "last" in case else {})
    picked = pick_agent(group, case["strategy"], states,
                        last_agent_for_customer=case.get("customer_last"), rotation=rotation)
    assert picked == case["expect"]
    if case["strategy"] == "round_robin" and picked is not None:
        assert rotation.last["g"] == picked


def test_round_robin_turns_through_the_group() -> None:
    group = Group("g", ("ann", "bob", "cat"), "round_robin", 5)
    states = {a: AgentState("online", 0) for a in group.agents}
    rotation = Rotation()
    picks = [pick_agent(group, "round_robin", states, rotation=rotation) for _ in range(5)]
    assert picks == ["ann", "bob", "cat", "ann", "bob"]


def entry(cid: str, priority: int, waited_minutes: int, last: str | None = None) -> QueueEntry:
    return QueueEntry(cid, priority, T0 - timedelta(minutes=waited_minutes), last)


def test_queue_serves_priority_then_longest_waiting() -> None:
    queue = Queue([entry("c1", 20, 5), entry("c2", 100, 1), entry("c3", 20, 30), entry("c4", 60, 2)])
    assert [e.conversation_id for e in queue] == ["c2", "c4", "c3", "c1"]
    assert queue.pop().conversation_id == "c2"
    assert len(queue) == 3 and queue.peek() is not None and queue.peek().conversation_id == "c4"


def test_hand_out_stops_when_capacity_is_exhausted() -> None:
    group = Group("g", ("ann", "bob"), "least_busy", 2)
    queue = Queue([entry(f"c{i}", 10, i) for i in range(6)])
    states = {"ann": AgentState("online", 1), "bob": AgentState("online", 0)}
    assignments, after = hand_out(queue, group, states)
    assert [(a.conversation_id, a.agent) for a in assignments] == [
        ("c5", "bob"), ("c4", "ann"), ("c3", "bob"),
    ]
    assert after["ann"].open_conversations == 2 and after["bob"].open_conversations == 2
    assert [e.conversation_id for e in queue] == ["c2", "c1", "c0"]
    assert states["bob"].open_conversations == 0, "the input snapshot is left alone"


def test_agent_going_offline_hands_their_waiting_conversations_to_others() -> None:
    """An agent goes offline with conversations assigned: the caller requeues them and
    they go to whoever is online with room, never back to the offline agent."""
    group = Group("g", ("ann", "bob", "cat"), "sticky", 2)
    states = {"ann": AgentState("offline", 0), "bob": AgentState("online", 1),
              "cat": AgentState("online", 0)}
    queue = Queue([entry("c1", 10, 10, last="ann"), entry("c2", 10, 9, last="ann"),
                   entry("c3", 10, 8, last="ann"), entry("c4", 10, 7, last="ann")])
    assignments, after = hand_out(queue, group, states)
    assert [(a.conversation_id, a.agent) for a in assignments] == [
        ("c1", "cat"), ("c2", "bob"), ("c3", "cat"),
    ]
    assert "ann" not in {a.agent for a in assignments}
    assert len(queue) == 1
    # ann comes back online: the rest of the queue is handed out, sticky to her
    states = {**after, "ann": AgentState("online", 0)}
    assignments, _ = hand_out(queue, group, states)
    assert [(a.conversation_id, a.agent) for a in assignments] == [("c4", "ann")]


def test_manual_group_hands_out_nothing() -> None:
    group = Group("g", ("ann",), "manual", 2)
    queue = Queue([entry("c1", 10, 1)])
    assignments, _ = hand_out(queue, group, {"ann": AgentState("online", 0)})
    assert assignments == [] and len(queue) == 1
