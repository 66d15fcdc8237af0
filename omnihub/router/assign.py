"""Who gets a conversation: pure assignment strategies over a snapshot of agent states.

The caller (the store, later) owns the facts — availability, open conversations, the
rotation pointer — and passes them in; nothing here does I/O or keeps hidden state.
Only an online agent below capacity gets new work.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from omnihub.router.calendar import ALWAYS_OPEN, BusinessCalendar
from omnihub.router.config import Strategy

Availability = Literal["online", "away", "offline"]


@dataclass(frozen=True, slots=True)
class Group:
    """A compiled skill group: its members in order, strategy, default capacity, hours."""

    name: str
    agents: tuple[str, ...]
    strategy: Strategy = "round_robin"
    capacity: int = 5
    calendar: BusinessCalendar = ALWAYS_OPEN


@dataclass(frozen=True, slots=True)
class AgentState:
    """What assignment needs to know about an agent right now; `capacity=None` uses the group's."""

    availability: Availability = "offline"
    open_conversations: int = 0
    capacity: int | None = None


@dataclass
class Rotation:
    """The round-robin pointer: the agent each group handed work to last."""

    last: dict[str, str] = field(default_factory=dict)


def has_room(state: AgentState | None, group: Group) -> bool:
    """Online and below capacity: the only agents that may get new work."""
    if state is None or state.availability != "online":
        return False
    capacity = state.capacity if state.capacity is not None else group.capacity
    return state.open_conversations < capacity


def _eligible(group: Group, agents_state: Mapping[str, AgentState]) -> list[str]:
    return [agent for agent in group.agents if has_room(agents_state.get(agent), group)]


def _least_busy(candidates: list[str], agents_state: Mapping[str, AgentState]) -> str:
    """Fewest open conversations; ties go to the agent listed first in the group."""
    return min(candidates, key=lambda agent: agents_state[agent].open_conversations)


def _round_robin(group: Group, candidates: list[str], rotation: Rotation) -> str:
    """The next eligible member after the one served last, wrapping around."""
    last = rotation.last.get(group.name)
    start = group.agents.index(last) + 1 if last in group.agents else 0
    eligible = set(candidates)
    for offset in range(len(group.agents)):
        agent = group.agents[(start + offset) % len(group.agents)]
        if agent in eligible:
            return agent
    raise AssertionError("candidates are members of the group")  # pragma: no cover


def pick_agent(
    group: Group,
    strategy: Strategy,
    agents_state: Mapping[str, AgentState],
    *,
    last_agent_for_customer: str | None = None,
    rotation: Rotation | None = None,
) -> str | None:
    """The agent to assign, or None (manual strategy, or nobody online with room).

    round_robin advances `rotation` (a fresh one is used when none is given).
    """
    if strategy == "manual":
        return None
    candidates = _eligible(group, agents_state)
    if not candidates:
        return None
    if strategy == "sticky":
        if last_agent_for_customer in candidates:
            return last_agent_for_customer
        return _least_busy(candidates, agents_state)
    if strategy == "least_busy":
        return _least_busy(candidates, agents_state)
    rotation = rotation if rotation is not None else Rotation()
    chosen = _round_robin(group, candidates, rotation)
    rotation.last[group.name] = chosen
    return chosen


# ------------------------------------------------------------------ the queue


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """A conversation waiting for an agent."""

    conversation_id: str
    priority: int
    waiting_since: datetime
    last_agent: str | None = None  # who served this customer last, for sticky groups


def queue_key(entry: QueueEntry) -> tuple[int, datetime, str]:
    """Higher priority first, then the one waiting longest; the id keeps the order total."""
    return -entry.priority, entry.waiting_since, entry.conversation_id


class Queue:
    """Conversations of one group in serving order (a heap; pop gives the next to serve)."""

    def __init__(self, entries: Iterable[QueueEntry] = ()) -> None:
        self._counter = itertools.count()
        self._heap: list[tuple[tuple[int, datetime, str], int, QueueEntry]] = []
        for entry in entries:
            self.push(entry)

    def push(self, entry: QueueEntry) -> None:
        heapq.heappush(self._heap, (queue_key(entry), next(self._counter), entry))

    def pop(self) -> QueueEntry:
        return heapq.heappop(self._heap)[2]

    def peek(self) -> QueueEntry | None:
        return self._heap[0][2] if self._heap else None

    def __len__(self) -> int:
        return len(self._heap)

    def __iter__(self) -> Iterator[QueueEntry]:
        """Entries in serving order, without removing them."""
        return iter(sorted((item[2] for item in self._heap), key=queue_key))


@dataclass(frozen=True, slots=True)
class Assignment:
    conversation_id: str
    agent: str


def hand_out(
    queue: Queue,
    group: Group,
    agents_state: Mapping[str, AgentState],
    *,
    rotation: Rotation | None = None,
) -> tuple[list[Assignment], dict[str, AgentState]]:
    """Serve the queue while someone has room (an agent came online or freed capacity).

    Assigned entries leave the queue; returns the assignments and the agent states as
    they are afterwards (each assignment adds one open conversation).
    """
    states = dict(agents_state)
    rotation = rotation if rotation is not None else Rotation()
    assignments: list[Assignment] = []
    while (entry := queue.peek()) is not None:
        agent = pick_agent(group, group.strategy, states,
                           last_agent_for_customer=entry.last_agent, rotation=rotation)
        if agent is None:
            break
        queue.pop()
        states[agent] = replace(states[agent], open_conversations=states[agent].open_conversations + 1)
        assignments.append(Assignment(entry.conversation_id, agent))
    return assignments, states
