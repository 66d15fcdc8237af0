"""Escalation steps against a controllable clock: which are due, each exactly once."""

from __future__ import annotations

from datetime import datetime

from omnihub.router import (
    RouteInput, SlaClock, compile_router, due_steps, load_routing, next_escalation_at,
)

from .conftest import DATA, instant

ROUTER = compile_router(load_routing(DATA / "routing" / "escalation.yaml"))
ARRIVED = instant("2026-03-02T17:40+08:00")  # Monday, 20 minutes before closing


def clocks() -> dict[str, SlaClock]:
    decision = ROUTER.route(RouteInput("sms", "hello"), now=ARRIVED)
    channel = ROUTER.channel("sms")
    assert decision.first_response_due == instant("2026-03-03T09:10+08:00")
    assert decision.resolution_due == instant("2026-03-03T10:40+08:00")
    assert decision.first_response_due and decision.resolution_due and channel.first_response
    assert channel.resolution
    return {
        "first_response": SlaClock(decision.first_response_due, channel.first_response),
        "resolution": SlaClock(decision.resolution_due, channel.resolution),
    }


def due(now: datetime, fired: set[str], group: str = "support") -> list[str]:
    steps = due_steps(ROUTER.escalation, clocks(), now=now, fired=fired,
                      calendar=ROUTER.sla_calendar(group), group=group)
    return [step.key for step in steps]


def test_nothing_is_due_before_the_deadline() -> None:
    assert due(instant("2026-03-02T17:59+08:00"), set()) == []
    assert due(instant("2026-03-03T09:09:59+08:00"), set()) == []


def test_the_ladder_fires_each_step_once_as_the_clock_advances() -> None:
    fired: set[str] = set()
    timeline = []
    for at in ("2026-03-03T09:10+08:00", "2026-03-03T09:20+08:00", "2026-03-03T09:40+08:00",
               "2026-03-03T10:40+08:00", "2026-03-04T12:00+08:00"):
        keys = due(instant(at), fired)
        fired.update(keys)
        timeline.append(keys)
    assert timeline == [["first-response-missed"], [], ["missed-twice"], ["step-3"], []]


def test_a_late_check_returns_every_missed_step_in_order() -> None:
    assert due(instant("2026-03-03T11:00+08:00"), set()) == [
        "first-response-missed", "missed-twice", "step-3",
    ]


def test_the_multiplier_counts_business_time() -> None:
    """Missed at 17:50, the 2x step waits out the night: 10 minutes Monday, 20 Tuesday."""
    late = ROUTER.route(RouteInput("sms", "hi"), now=instant("2026-03-02T17:20+08:00"))
    target = ROUTER.channel("sms").first_response
    assert late.first_response_due == instant("2026-03-02T17:50+08:00") and target is not None
    running = {"first_response": SlaClock(late.first_response_due, target)}

    def keys(at: str) -> list[str]:
        steps = due_steps(ROUTER.escalation, running, now=instant(at), fired=set(),
                          calendar=ROUTER.sla_calendar("support"))
        return [step.key for step in steps]

    assert keys("2026-03-02T23:00+08:00") == ["first-response-missed"]
    assert keys("2026-03-03T09:19+08:00") == ["first-response-missed"]
    assert keys("2026-03-03T09:20+08:00") == ["first-response-missed", "missed-twice"]


def test_group_filter_and_step_contents() -> None:
    steps = due_steps(ROUTER.escalation, clocks(), now=instant("2026-03-03T11:00+08:00"),
                      fired=set(), calendar=ROUTER.sla_calendar("senior"), group="senior")
    assert [s.key for s in steps] == ["first-response-missed", "missed-twice"]
    transfer = steps[1]
    assert transfer.transfer_to == "senior" and transfer.notify == ("agent:gus",)
    assert transfer.priority is not None and transfer.priority.apply(40) == 70
    assert transfer.threshold == instant("2026-03-03T09:40+08:00")


def test_next_wake_up_time_for_a_timer() -> None:
    all_clocks = clocks()
    kwargs = {"calendar": ROUTER.sla_calendar("support"), "group": "support"}
    assert next_escalation_at(ROUTER.escalation, all_clocks, fired=set(), **kwargs) == \
        instant("2026-03-03T09:10+08:00")
    fired = {"first-response-missed", "missed-twice"}
    assert next_escalation_at(ROUTER.escalation, all_clocks, fired=fired, **kwargs) == \
        instant("2026-03-03T10:40+08:00")
    assert next_escalation_at(ROUTER.escalation, {}, fired=set(), **kwargs) is None


def test_a_met_deadline_has_no_clock_and_escalates_nothing() -> None:
    only_resolution = {"resolution": clocks()["resolution"]}
    steps = due_steps(ROUTER.escalation, only_resolution, now=instant("2026-03-04T12:00+08:00"),
                      fired=set(), calendar=ROUTER.sla_calendar("support"), group="support")
    assert [s.key for s in steps] == ["step-3"]
