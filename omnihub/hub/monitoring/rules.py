"""Evaluating alert rules against a metrics registry: pure functions and a small history.

`Figures` reads one rule's figure from the registry at a given time, keeping the past
readings a window needs (a counter's total, a histogram's cumulative buckets) in memory;
`step` is the state machine (ok -> pending -> firing -> ok) that decides when a rule
fires and when it resolves. Nothing here does I/O, so tests drive both with their own
clock and metric values.
"""

from __future__ import annotations

import math
import operator
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry
from prometheus_client.samples import Sample

from omnihub.hub.monitoring.catalog import families
from omnihub.hub.monitoring.settings import AlertRule

__all__ = ["Figures", "RuleState", "Transition", "histogram_quantile", "step"]

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "==": operator.eq, "!=": operator.ne,
}

# A reading: a scalar (gauge or counter total) or cumulative bucket counts by upper bound.
Reading = float | dict[float, float]


def _matching(samples: Iterable[Sample], name: str, labels: dict[str, str]) -> list[Sample]:
    return [s for s in samples if s.name == name
            and all(s.labels.get(k) == v for k, v in labels.items())]


def read(samples: list[Sample], rule: AlertRule) -> Reading | None:
    """The rule's raw reading in `samples`; None when no series matches (nothing to judge)."""
    family = families()[rule.metric]
    if family.type == "histogram":
        buckets: dict[float, float] = {}
        found = False
        for sample in _matching(samples, f"{family.name}_bucket", rule.labels):
            bound = float(sample.labels["le"])
            buckets[bound] = buckets.get(bound, 0.0) + sample.value
            found = True
        return buckets if found else None
    values = [s.value for s in _matching(samples, family.name, rule.labels)]
    if not values:
        return None
    if family.type == "counter" or rule.aggregate == "sum":
        return float(sum(values))
    return float(max(values) if rule.aggregate == "max" else min(values))


def histogram_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """The q-quantile of cumulative `buckets` (upper bound -> count), linear within a bucket
    like Prometheus; None without observations. Past the last finite bound: that bound."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    total = buckets[bounds[-1]]
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return previous_bound
            if count == previous_count:
                return bound
            return previous_bound + (bound - previous_bound) * (rank - previous_count) / (
                count - previous_count)
        previous_bound, previous_count = bound, count
    return previous_bound


class Figures:
    """Reads every rule's figure at each evaluation, remembering what windows need."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._history: dict[str, deque[tuple[datetime, Reading]]] = {}

    def values(self, rules: Iterable[AlertRule], now: datetime) -> dict[str, float | None]:
        """Every rule's figure at `now`, from one collection of the registry."""
        samples = [s for metric in self.registry.collect() for s in metric.samples]
        return {rule.name: self.value(rule, samples, now) for rule in rules}

    def value(self, rule: AlertRule, samples: list[Sample], now: datetime) -> float | None:
        reading = read(samples, rule)
        if rule.window is None:
            return reading if isinstance(reading, float) else None
        history = self._history.setdefault(rule.name, deque())
        if reading is None:
            return None
        history.append((now, reading))
        start = now - timedelta(seconds=rule.window)
        # The baseline: the newest reading at or before the window's start (older ones
        # are dropped); without one the process is younger than the window, and its
        # counters started at zero.
        while len(history) > 1 and history[1][0] <= start:
            history.popleft()
        baseline: Reading | None = history[0][1] if history[0][0] <= start else None
        if isinstance(reading, dict):
            assert rule.quantile is not None
            old = baseline if isinstance(baseline, dict) else {}
            delta = {bound: max(0.0, count - old.get(bound, 0.0))
                     for bound, count in reading.items()}
            return histogram_quantile(rule.quantile, delta)
        old_total = baseline if isinstance(baseline, float) else 0.0
        return max(0.0, reading - old_total)  # a counter never goes down but on a restart


@dataclass(frozen=True, slots=True)
class RuleState:
    """Where one rule stands; persisted in the alert_states table."""

    name: str
    state: str = "ok"  # ok | pending | firing
    firing_id: str | None = None
    value: float | None = None
    pending_since: datetime | None = None
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    owed: str | None = None  # firing | resolved: a notice not yet sent to every target
    notified: tuple[str, ...] = field(default=())


Transition = str | None  # "firing" | "resolved" | None


def step(rule: AlertRule, prior: RuleState, value: float | None, now: datetime,
         new_firing_id: Callable[[], str]) -> tuple[RuleState, Transition]:
    """Advance a rule's state machine by one evaluation; say whether it fired or resolved.

    No value (no matching series, no observations in the window) counts as "condition
    not met": an alert about something that is not there resolves.
    """
    breached = value is not None and OPS[rule.op](value, rule.threshold)
    state = replace(prior, value=value)
    if not breached:
        if prior.state == "firing":
            return replace(state, state="ok", pending_since=None, resolved_at=now,
                           owed="resolved", notified=()), "resolved"
        return replace(state, state="ok", pending_since=None), None
    if prior.state == "firing":
        return state, None
    since = prior.pending_since if prior.state == "pending" else now
    assert since is not None
    if (now - since).total_seconds() >= rule.for_:
        return replace(state, state="firing", firing_id=new_firing_id(), pending_since=since,
                       fired_at=now, resolved_at=None, owed="firing", notified=()), "firing"
    return replace(state, state="pending", pending_since=since), None
