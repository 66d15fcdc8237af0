"""Several processes hand out one group's queue at once: each plans from the loads it read
a moment ago, so the assignment itself must re-check the agent's capacity, under a lock
that makes concurrent assignments to one agent take turns (store/queue.py)."""

from __future__ import annotations

import asyncio

from omnihub.store import agents as agent_store
from omnihub.store.queue import assign_from_queue

from ..routing.conftest import Desk, any_desk  # noqa: F401


async def test_a_plan_from_stale_loads_stops_at_capacity(any_desk: Desk) -> None:  # noqa: F811
    desk = any_desk
    await desk.online("ann")
    first, second, third = [await desk.conversation(f"c{n}", "support") for n in range(3)]
    for conversation in (first, second):  # one process fills ann's two places
        assert await assign_from_queue(desk.db, conversation, "ann", "support",
                                       strategy="least_busy", capacity=2) is not None
    # another process planned `third` for ann when it still saw her with none
    assert await assign_from_queue(desk.db, third, "ann", "support",
                                   strategy="least_busy", capacity=2) is None
    assert (await desk.get(third)).assignee is None
    assert await agent_store.open_loads(desk.db, ["ann"]) == {"ann": 2}
    assert len(await desk.events("conversation.assigned")) == 2


async def test_concurrent_assignments_to_one_agent_take_turns(any_desk: Desk) -> None:  # noqa: F811
    desk = any_desk
    await desk.online("ann")
    queued = [await desk.conversation(f"c{n}", "support") for n in range(6)]
    results = await asyncio.gather(*(
        assign_from_queue(desk.db, conversation, "ann", "support", strategy="least_busy",
                          capacity=2) for conversation in queued))
    assert sum(result is not None for result in results) == 2
    assert await agent_store.open_loads(desk.db, ["ann"]) == {"ann": 2}
