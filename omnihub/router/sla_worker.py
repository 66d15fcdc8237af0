"""The SLA timer: fires `sla.breached` once per missed deadline and runs the escalation
steps that are due (notify, transfer to a group, raise priority).

One process at a time does this, the holder of a database lease; its fencing token is
checked again in each firing's transaction, and the `sla_fired` primary key makes a
breach or step fire once even if two workers ever overlap. Due times and fired keys live
in the store, so a restart resumes where the last process stopped. `tick(now)` is one
pass at a given instant: the loop calls it with the wall clock, tests with their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from omnihub.hub.background import in_background
from omnihub.normalizer.schema import Conversation
from omnihub.router.assigner import Assigner
from omnihub.router.engine import CompiledRouter
from omnihub.router.escalation import DueStep, SlaClock, due_steps
from omnihub.router.runtime import RoutingState
from omnihub.store import Store, sla
from omnihub.store.leases import Lease, process_holder
from omnihub.store.tables import conversations

__all__ = ["LEASE_NAME", "SlaWorker", "TickReport", "breach_key", "notify_agents"]

log = logging.getLogger("omnihub.router.sla")

LEASE_NAME = "routing.sla-timer"
_c = conversations.c


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class TickReport:
    """What one pass did (for tests and the log)."""

    leader: bool
    breaches: list[tuple[str, str]] = field(default_factory=list)  # (conversation, metric)
    steps: list[tuple[str, str]] = field(default_factory=list)  # (conversation, step key)
    assigned: int = 0


def breach_key(metric: str, due: datetime) -> str:
    """First response and resolution breach once; each re-armed next-response deadline anew."""
    if metric == "next_response":
        return f"breach:{metric}@{due.astimezone(UTC).isoformat(timespec='seconds')}"
    return f"breach:{metric}"


def running_clocks(router: CompiledRouter | None, conv: Conversation) -> dict[str, SlaClock]:
    """The conversation's deadlines that still run (a met first response is left out)."""
    channel = router.channel(conv.channel_type) if router is not None else None
    due = {
        "first_response": conv.first_response_due if conv.first_response_at is None else None,
        "next_response": conv.next_response_due,
        "resolution": conv.resolution_due,
    }
    clocks = {}
    for metric, at in due.items():
        if at is not None:
            target = channel.target(metric) if channel is not None else None
            clocks[metric] = SlaClock(at, target or timedelta(0))
    return clocks


def notify_agents(router: CompiledRouter, targets: tuple[str, ...], conv: Conversation) -> list[str]:
    """Resolve `assignee`, `group`, `role:<r>` (of the conversation's group, else anyone
    with that role) and `agent:<id>` to agent ids, in order, without repeats."""
    members = list(router.groups[conv.group].agents) if conv.group in router.groups else []
    roles = {agent.id: agent.role for agent in router.config.agents}
    found: list[str] = []
    for target in targets:
        kind, _, rest = target.partition(":")
        if target == "assignee":
            names = [conv.assignee] if conv.assignee else []
        elif target == "group":
            names = members
        elif kind == "role":
            names = [a for a in members if roles.get(a) == rest] or [
                a for a, role in roles.items() if role == rest]
        else:  # agent:<id>
            names = [rest]
        found += [name for name in names if name not in found]
    return found


class SlaWorker:
    """The lease-holding timer; `tick(now)` is one pass, `running()` the loop."""

    def __init__(self, store: Store, routing: RoutingState, *, assigner: Assigner | None = None,
                 holder: str | None = None, lease_seconds: float = 30.0,
                 interval: float = 5.0, clock: Callable[[], datetime] = utcnow,
                 on_breach: Callable[[str, str | None], object] | None = None) -> None:
        self.store = store
        self.routing = routing
        self.assigner = assigner
        self.holder = holder or process_holder()
        self.lease_seconds = lease_seconds
        self.interval = interval
        self.clock = clock
        self.on_breach = on_breach
        self._token: int | None = None

    async def _lease(self) -> int | None:
        db = self.store.db
        if self._token is not None and await Lease.renew(db, LEASE_NAME, self.holder,
                                                         self._token, self.lease_seconds):
            return self._token
        self._token = await Lease.acquire(db, LEASE_NAME, self.holder, self.lease_seconds)
        return self._token

    async def tick(self, now: datetime | None = None) -> TickReport:
        """One pass: if this process holds the lease, fire what is due at `now`."""
        now = now or self.clock()
        token = await self._lease()
        if token is None:
            return TickReport(leader=False)
        report = TickReport(leader=True)
        fencing = sla.Fencing(LEASE_NAME, self.holder, token)
        router = self.routing.router
        late = await sla.overdue(self.store.db, now)
        fired = await sla.fired_keys(self.store.db, [conv.id for conv in late])
        for conv in late:
            await self._conversation(conv, router, now, fired.get(conv.id, set()), fencing, report)
        if self.assigner is not None:
            report.assigned = len(await self.assigner.serve_all())
        return report

    async def _conversation(self, conv: Conversation, router: CompiledRouter | None,
                            now: datetime, fired: set[str], fencing: sla.Fencing,
                            report: TickReport) -> None:
        clocks = running_clocks(router, conv)
        for metric, clock in clocks.items():
            key = breach_key(metric, clock.due)
            if clock.due > now or key in fired:
                continue
            data = {"metric": metric, "due": clock.due.isoformat(), "breached_at": now.isoformat()}
            if await self._fire(conv.id, sla.Firing(key, [("sla.breached", data)]), now, fencing):
                report.breaches.append((conv.id, metric))
                if self.on_breach is not None:
                    self.on_breach(metric, conv.group)
        if router is None or not router.escalation:
            return
        done = {key.removeprefix("step:") for key in fired if key.startswith("step:")}
        steps = due_steps(router.escalation, clocks, now=now, fired=done,
                          calendar=router.sla_calendar(conv.group), group=conv.group)
        for step in steps:
            if await self._fire(conv.id, self._step_firing(router, conv, step), now, fencing):
                report.steps.append((conv.id, step.key))

    def _step_firing(self, router: CompiledRouter, conv: Conversation, step: DueStep) -> sla.Firing:
        # escalation_level is how far up the ladder the conversation is, as for a hand
        # escalation (router/manual_escalation.py): never lowered by an earlier step.
        level = step.index + 1
        values: dict[str, Any] = {"escalation_level": sa.case(
            (_c.escalation_level < level, level), else_=_c.escalation_level)}
        if step.transfer_to is not None and step.transfer_to != conv.group:
            values.update(skill_group=step.transfer_to, assignee=None)
        if step.priority is not None:
            values["priority"] = (_c.priority + step.priority.value if step.priority.relative
                                  else step.priority.value)
        data = {
            "reason": f"sla: {step.key}", "step": step.key, "metric": step.metric,
            "threshold": step.threshold.isoformat(),
            "notify": {"targets": list(step.notify),
                       "agents": notify_agents(router, step.notify, conv)},
            "transfer_to": step.transfer_to,
            "priority": None if step.priority is None else str(step.priority),
            "from": {"group": conv.group, "assignee": conv.assignee},
        }
        return sla.Firing(f"step:{step.key}", [("conversation.escalated", data)], values,
                          action="sla.escalate")

    async def _fire(self, conversation_id: str, firing: sla.Firing, now: datetime,
                    fencing: sla.Fencing) -> bool:
        after = await sla.fire(self.store.db, conversation_id, firing, now=now, fencing=fencing,
                               on_commit=self.store.on_commit)
        if after is not None:
            log.warning("conversation %s: %s", conversation_id, firing.key)
        return after is not None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Tick every `interval` seconds for the duration of the block; release the lease after."""

        async def loop() -> None:
            while True:
                try:
                    await self.tick()
                except Exception:
                    log.exception("SLA pass failed; trying again in %.1fs", self.interval)
                await asyncio.sleep(self.interval)

        try:
            async with in_background(loop(), "sla-timer"):
                yield
        finally:
            if self._token is not None:
                with contextlib.suppress(Exception):
                    await Lease.release(self.store.db, LEASE_NAME, self.holder, self._token)
