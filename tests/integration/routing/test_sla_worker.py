"""The SLA timer with a controllable clock: breaches fire once, escalation steps run in
order, one worker of several fires, and a restart resumes from the store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from omnihub.router.manual_escalation import ladder_for
from omnihub.router.sla_worker import LEASE_NAME
from omnihub.store import sla
from omnihub.store.leases import Lease
from omnihub.store.tables import leases

from .conftest import SUPERVISOR, Desk

DUE = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def after(minutes: float) -> datetime:
    return DUE + timedelta(minutes=minutes)


async def late_conversation(desk: Desk, customer: str = "c1", **columns: object) -> str:
    """A support conversation assigned to ann whose first response was due at DUE."""
    values = {"first_response_due": DUE, "first_response_at": None, "next_response_due": None,
              "resolution_due": None, "assignee": "ann", **columns}
    return await desk.conversation(customer, "support", priority=40, **values)


# (minutes past the due time, breaches fired by then, steps run by then)
LADDER = [
    pytest.param(-1, [], [], id="before the deadline"),
    pytest.param(0, ["first_response"], ["first-missed"], id="at the deadline"),
    pytest.param(9, ["first_response"], ["first-missed"], id="missed, not yet twice"),
    pytest.param(10, ["first_response"], ["first-missed", "first-missed-twice"],
                 id="missed by its target once more"),
]


@pytest.mark.parametrize(("minutes", "breaches", "steps"), LADDER)
async def test_escalation_ladder(desk: Desk, minutes: int, breaches: list[str],
                                 steps: list[str]) -> None:
    conversation = await late_conversation(desk)
    report = await desk.worker("w1").tick(after(minutes))
    assert report.leader
    assert [metric for _, metric in report.breaches] == breaches
    assert [key for _, key in report.steps] == steps
    assert len(await desk.events("sla.breached")) == len(breaches)
    assert all(cid == conversation for cid, _ in report.breaches + report.steps)


async def test_each_breach_and_step_fires_once(desk: Desk) -> None:
    conversation = await late_conversation(desk)
    worker = desk.worker("w1")
    for minutes in (1, 2, 11, 12, 60):
        await worker.tick(after(minutes))
    breached = await desk.events("sla.breached")
    escalated = await desk.events("conversation.escalated")
    assert [e["data"]["metric"] for e in breached] == ["first_response"]
    assert [e["data"]["step"] for e in escalated] == ["first-missed", "first-missed-twice"]
    first, twice = (e["data"] for e in escalated)
    assert first["notify"] == {"targets": ["assignee", "role:senior"], "agents": ["ann", "sam"]}
    assert twice["notify"]["agents"] == ["sue"]
    assert twice["from"] == {"group": "support", "assignee": "ann"}
    after_all = await desk.get(conversation)
    assert (after_all.group, after_all.assignee, after_all.priority,
            after_all.escalation_level) == ("senior", None, 70, 2)  # the ladder's 2nd step


async def escalate_by_hand(desk: Desk, conversation_id: str) -> object:
    ladder = await ladder_for(desk.routing, desk.db, conversation_id)
    return await desk.store.escalate(conversation_id, reason="by hand", actor=SUPERVISOR,
                                     ladder=ladder)


async def test_a_step_escalated_by_hand_is_not_fired_again_by_the_timer(desk: Desk) -> None:
    conversation = await late_conversation(desk)
    await escalate_by_hand(desk, conversation)  # step 1, before any deadline passed
    report = await desk.worker("w1").tick(after(10))
    assert [key for _, key in report.steps] == ["first-missed-twice"]
    escalated = await desk.events("conversation.escalated")
    assert [(e["data"]["step"], e["data"]["actor"]) for e in escalated] == [
        ("first-missed", "agent:sue"), ("first-missed-twice", "system")]
    assert (await desk.get(conversation)).escalation_level == 2


async def test_by_hand_after_the_timer_takes_the_next_step(desk: Desk) -> None:
    conversation = await late_conversation(desk)
    await desk.worker("w1").tick(after(1))  # the timer fires step 1
    escalated = await escalate_by_hand(desk, conversation)
    assert (escalated.group, escalated.priority, escalated.escalation_level) == (  # type: ignore[attr-defined]
        "senior", 70, 2)
    assert [e["data"]["step"] for e in await desk.events("conversation.escalated")] == [
        "first-missed", "first-missed-twice"]
    assert (await desk.worker("w1").tick(after(30))).steps == []


async def test_an_answered_conversation_does_not_breach(desk: Desk) -> None:
    await late_conversation(desk, first_response_at=DUE - timedelta(minutes=5))
    report = await desk.worker("w1").tick(after(30))
    assert report.breaches == [] and report.steps == []


async def test_each_rearmed_next_response_deadline_breaches_anew(desk: Desk) -> None:
    conversation = await late_conversation(desk, first_response_at=DUE - timedelta(hours=1),
                                           next_response_due=DUE)
    worker = desk.worker("w1")
    assert [m for _, m in (await worker.tick(after(1))).breaches] == ["next_response"]
    assert (await worker.tick(after(2))).breaches == []
    await desk.set(conversation, next_response_due=after(30))  # the customer wrote again
    assert (await worker.tick(after(29))).breaches == []
    assert [m for _, m in (await worker.tick(after(31))).breaches] == ["next_response"]


async def test_clocks_survive_a_restart(desk: Desk) -> None:
    await late_conversation(desk)
    first = desk.worker("process-1")
    await first.tick(after(1))
    await Lease.release(desk.db, LEASE_NAME, "process-1", first._token or 0)  # shut down
    second = desk.worker("process-2")
    report = await second.tick(after(2))
    assert report.leader and report.breaches == [] and report.steps == []
    assert [k for _, k in (await second.tick(after(10))).steps] == ["first-missed-twice"]


async def test_one_of_two_workers_fires(any_desk: Desk) -> None:
    desk = any_desk
    for customer in ("c1", "c2", "c3"):
        await late_conversation(desk, customer)
    one, two = desk.worker("w1"), desk.worker("w2")
    reports = await asyncio.gather(one.tick(after(1)), two.tick(after(1)))
    assert sorted(r.leader for r in reports) == [False, True]
    reports += await asyncio.gather(one.tick(after(2)), two.tick(after(2)))
    assert sum(len(r.breaches) for r in reports) == 3
    assert len(await desk.events("sla.breached")) == 3


async def test_a_worker_that_lost_its_lease_writes_nothing(any_desk: Desk) -> None:
    desk = any_desk
    conversation = await late_conversation(desk)
    old = desk.worker("w1")
    assert (await old.tick(after(-5))).leader
    async with desk.db.write() as conn:  # w1 stalls past its lease ...
        await conn.execute(sa.update(leases).values(expires_at=after(-60)))
    assert (await desk.worker("w2").tick(after(-4))).leader  # ... and w2 takes over
    stale = sla.Fencing(LEASE_NAME, "w1", old._token or 0)
    firing = sla.Firing("breach:first_response", [("sla.breached", {"metric": "x"})])
    assert await sla.fire(desk.db, conversation, firing, now=after(1), fencing=stale) is None
    assert await desk.events("sla.breached") == []
