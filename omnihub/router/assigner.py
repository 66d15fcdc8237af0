"""Automatic assignment in the running hub: hand a group's queue out whenever that can
change who gets what — a conversation arrives, an agent comes online, capacity frees up.

It reacts to events on the bus (at least once, possibly twice), so every pass is a
fresh read of the store and every assignment is conditional: running it again, or in
two processes at once, never assigns a conversation twice. The choice itself is the
pure `hand_out` of omnihub/router/assign.py, fed with availability, open load, the
round-robin pointer and sticky history from the store.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from omnihub.hub.bus.base import Envelope
from omnihub.normalizer.schema import TextPart
from omnihub.router.assign import (
    AgentState,
    Assignment,
    Queue,
    QueueEntry,
    Rotation,
    hand_out,
    has_room,
)
from omnihub.router.calendar import is_open
from omnihub.router.engine import CompiledRouter
from omnihub.router.runtime import RoutingState
from omnihub.store import Store
from omnihub.store import agents as agent_store
from omnihub.store import queue as queue_store
from omnihub.store.replies import SYSTEM_AUTHOR

__all__ = ["AUTO_REPLY_KEY", "Assigner"]

log = logging.getLogger("omnihub.router.assign")

AUTO_REPLY_KEY = "routing:auto-reply"  # idempotency key: one auto-reply per conversation
# Events after which a group's queue may move: (event type) -> groups to serve.
_FREES_CAPACITY = ("conversation.resolved", "conversation.closed")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Assigner:
    """Serves group queues; `handle` is its bus consumer (topic "event")."""

    def __init__(self, store: Store, routing: RoutingState, *,
                 clock: Callable[[], datetime] = utcnow,
                 on_assigned: Callable[[str], object] | None = None) -> None:
        self.store = store
        self.routing = routing
        self.clock = clock
        self.on_assigned = on_assigned  # metrics hook: called with the group name
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    # ---------------------------------------------------------------- events

    async def handle(self, envelope: Envelope) -> None:
        """React to one event: which queues may move, and the auto-reply of a new conversation."""
        data: dict[str, Any] = envelope.payload.get("data", {})
        conversation = data.get("conversation", data)
        kind = envelope.type
        groups: set[str] = set()
        if kind == "conversation.created":
            await self._auto_reply(conversation, data.get("routing") or {})
            groups.add(conversation.get("group"))
        elif kind in _FREES_CAPACITY or kind == "conversation.reopened":
            groups.add(conversation.get("group"))
            groups |= self._groups_of(conversation.get("assignee"))
        elif kind in ("conversation.transferred", "conversation.escalated"):
            groups.add(conversation.get("group"))
            previous = data.get("from") or {}
            groups.add(previous.get("group"))
            groups |= self._groups_of(previous.get("assignee"))
        elif kind == "conversation.assigned" and data.get("assignee") is None:
            groups.add(conversation.get("group"))
            groups |= self._groups_of(data.get("previous_assignee"))
        elif kind == "agent.availability" and data.get("availability") == "online":
            groups |= self._groups_of(data.get("agent"))
        groups.discard(None)  # type: ignore[arg-type]
        if groups:
            await self.serve(groups)

    def _groups_of(self, agent: str | None) -> set[str]:
        router = self.routing.router
        if agent is None or router is None:
            return set()
        return {name for name, group in router.groups.items() if agent in group.agents}

    async def _auto_reply(self, conversation: dict[str, Any], routing: dict[str, Any]) -> None:
        """The decision's auto-reply (a rule's, or the off-hours one), sent once."""
        text = routing.get("auto_reply")
        if not text or not conversation.get("id"):
            return
        await self.store.queue_reply(conversation["id"], [TextPart(text=text)],
                                     author=SYSTEM_AUTHOR, idempotency_key=AUTO_REPLY_KEY)

    # ---------------------------------------------------------------- serving

    async def serve_all(self) -> list[Assignment]:
        """Serve every automatic group (the timer calls this: calendars open, events get lost)."""
        router = self.routing.router
        return [] if router is None else await self.serve(router.groups)

    async def serve(self, groups: Iterable[str]) -> list[Assignment]:
        """Hand out the queues of these groups while their agents have room."""
        done: list[Assignment] = []
        for group in sorted(set(groups)):
            async with self._locks[group]:
                done += await self._serve_group(group)
        return done

    async def _serve_group(self, name: str) -> list[Assignment]:
        router = self.routing.router
        group = router.groups.get(name) if router is not None else None
        if router is None or group is None or group.strategy == "manual" or not group.agents:
            return []
        if router.config.off_hours.leave_message and not is_open(group.calendar, self.clock()):
            return []  # left messages wait for the opening
        states = await self._states(router, group.agents)
        if not any(has_room(state, group) for state in states.values()):
            # Nobody can take work: the queue need not be read. Under a backlog this is
            # every event, and reading (and sorting) the whole waiting queue each time
            # made catching up quadratic (10,000 new conversations: consumers 21 s behind).
            return []
        waiting = await queue_store.queued(self.store.db, name)
        if not waiting:
            return []
        sticky = (await queue_store.last_agents(self.store.db, {w.customer_id for w in waiting})
                  if group.strategy == "sticky" else {})
        queue = Queue(QueueEntry(w.conversation_id, w.priority, w.waiting_since,
                                 sticky.get(w.customer_id)) for w in waiting)
        rotation = Rotation(await queue_store.rotation_of(self.store.db, [name]))
        pointer = rotation.last.get(name)
        planned, _ = hand_out(queue, group, states, rotation=rotation)
        done = []
        for assignment in planned:
            state = states[assignment.agent]
            after = await queue_store.assign_from_queue(
                self.store.db, assignment.conversation_id, assignment.agent, name,
                strategy=group.strategy, on_commit=self.store.on_commit,
                capacity=state.capacity if state.capacity is not None else group.capacity)
            if after is not None:
                done.append(assignment)
                if self.on_assigned is not None:
                    self.on_assigned(name)
        if rotation.last.get(name) not in (None, pointer):
            await queue_store.save_rotation(self.store.db, name, rotation.last[name])
        if done:
            log.info("group %s: assigned %s", name,
                     ", ".join(f"{a.conversation_id}->{a.agent}" for a in done))
        return done

    async def _states(self, router: CompiledRouter, agents: Iterable[str]) -> dict[str, AgentState]:
        agents = list(agents)
        status = await agent_store.availability_of(self.store.db, agents)
        loads = await agent_store.open_loads(self.store.db, agents)
        capacity = {a.id: a.capacity for a in router.config.agents}
        return {
            agent: AgentState(status[agent].availability if agent in status else "offline",
                              loads.get(agent, 0), capacity.get(agent))
            for agent in agents
        }
