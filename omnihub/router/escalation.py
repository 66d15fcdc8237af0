"""Which escalation steps are due: a pure function of the deadlines, the clock and what has fired.

A step `after: 2x first_response` passes when the first-response deadline has been
missed by the target once more (counted in the same business time as the deadline).
Each step fires once per conversation: the caller keeps the keys of fired steps (in the
store, so that restarts and several hub processes agree) and passes them back in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime, timedelta

from omnihub.router.calendar import BusinessCalendar, add_business_time
from omnihub.router.config import EscalationStep, PriorityChange


@dataclass(frozen=True, slots=True)
class SlaClock:
    """A running deadline: when it is due and the target it was computed from."""

    due: datetime
    target: timedelta


@dataclass(frozen=True, slots=True)
class DueStep:
    """An escalation step to run now, as plain data for the store and the event."""

    key: str
    index: int
    metric: str
    threshold: datetime
    notify: tuple[str, ...]
    transfer_to: str | None
    priority: PriorityChange | None


def step_key(step: EscalationStep, index: int) -> str:
    """A step's identity in the fired set: its name, else its position."""
    return step.name or f"step-{index + 1}"


def threshold_at(step: EscalationStep, clock: SlaClock, calendar: BusinessCalendar) -> datetime:
    """When the step's threshold passes: the due time plus (multiplier - 1) targets of open time."""
    extra = clock.target * (step.after.multiplier - 1)
    if extra <= timedelta(0):
        return clock.due
    return add_business_time(calendar, clock.due, extra)


def _pending(
    steps: Sequence[EscalationStep],
    clocks: Mapping[str, SlaClock],
    fired: Set[str],
    calendar: BusinessCalendar,
    group: str | None,
) -> list[tuple[int, EscalationStep, datetime]]:
    pending = []
    for index, step in enumerate(steps):
        clock = clocks.get(step.after.metric)
        if clock is None or step_key(step, index) in fired:
            continue
        if step.groups and group not in step.groups:
            continue
        pending.append((index, step, threshold_at(step, clock, calendar)))
    return pending


def due_steps(
    steps: Sequence[EscalationStep],
    clocks: Mapping[str, SlaClock],
    *,
    now: datetime,
    fired: Set[str],
    calendar: BusinessCalendar,
    group: str | None = None,
) -> list[DueStep]:
    """Steps whose threshold has passed and that have not fired yet, in ladder order.

    `clocks` holds only running deadlines (a met or cleared deadline is left out);
    `calendar` is the conversation's SLA calendar (CompiledRouter.sla_calendar).
    """
    return [
        DueStep(step_key(step, index), index, step.after.metric, at, tuple(step.notify),
                step.transfer_to, step.priority)
        for index, step, at in _pending(steps, clocks, fired, calendar, group)
        if at <= now
    ]


def next_escalation_at(
    steps: Sequence[EscalationStep],
    clocks: Mapping[str, SlaClock],
    *,
    fired: Set[str],
    calendar: BusinessCalendar,
    group: str | None = None,
) -> datetime | None:
    """When the next not-yet-fired step passes: the moment a timer should wake up for."""
    thresholds = [at for _, _, at in _pending(steps, clocks, fired, calendar, group)]
    return min(thresholds, default=None)


def next_ladder_step(
    steps: Sequence[EscalationStep],
    *,
    level: int,
    fired: Set[str],
    group: str | None = None,
) -> tuple[int, EscalationStep] | None:
    """The step a hand escalation applies: the first at or after position `level` (the
    conversation's escalation_level) that covers its group and has not fired yet."""
    for index, step in enumerate(steps):
        if index < level or step_key(step, index) in fired:
            continue
        if step.groups and group not in step.groups:
            continue
        return index, step
    return None
