"""A hand escalation climbs routing.yaml's escalation ladder, sharing the SLA timer's record.

`POST /conversations/{id}/escalate` applies the NEXT step after the conversation's
escalation_level: its transfer target, its priority change and its notify list. The
step is recorded in `sla_fired` (key `step:<name>`) in the escalation's transaction, so
the SLA timer never applies it a second time, and a step the timer already fired is
skipped by hand. Both set escalation_level to the step's position (1-based), so level N
means "the ladder has been climbed to step N", whoever climbed it.
"""

from __future__ import annotations

from omnihub.normalizer.schema import Conversation
from omnihub.router.escalation import next_ladder_step, step_key
from omnihub.router.runtime import RoutingState
from omnihub.router.sla_worker import notify_agents
from omnihub.store import sla
from omnihub.store.conversation_ops import Ladder, LadderStep
from omnihub.store.db import Database

__all__ = ["ladder_for"]


async def ladder_for(routing: RoutingState, db: Database, conversation_id: str) -> Ladder | None:
    """The step picker for one conversation; None when routing.yaml has no ladder (then
    an escalation only raises the level)."""
    router = routing.router
    if router is None or not router.escalation:
        return None
    done = {key.removeprefix("step:")
            for key in (await sla.fired_keys(db, [conversation_id]))[conversation_id]
            if key.startswith("step:")}

    def pick(conv: Conversation) -> LadderStep | None:
        found = next_ladder_step(router.escalation, level=conv.escalation_level, fired=done,
                                 group=conv.group)
        if found is None:
            return None
        index, step = found
        return LadderStep(
            key=step_key(step, index), level=index + 1, transfer_to=step.transfer_to,
            priority=step.priority.apply if step.priority is not None else None,
            notify={"targets": list(step.notify),
                    "agents": notify_agents(router, tuple(step.notify), conv)})

    return pick
