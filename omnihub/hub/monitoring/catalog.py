"""What the hub exports: every metric family's exposition name, type and label names.

Alert rules are checked against it when hub.yaml loads (an unknown metric or label is a
located error, not a rule that silently never fires), and the tests check the shipped
Prometheus rules and Grafana dashboard against it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from prometheus_client.metrics import MetricWrapperBase


@dataclass(frozen=True, slots=True)
class Family:
    name: str  # as exposed: counters end in _total
    type: str  # counter | gauge | histogram
    labels: tuple[str, ...]

    def sample_names(self) -> tuple[str, ...]:
        """The series names Prometheus sees for this family."""
        if self.type == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        if self.type == "counter":
            return (self.name, self.name.removesuffix("_total") + "_created")
        return (self.name,)


@functools.cache
def families() -> dict[str, Family]:
    """Every family of a hub's Metrics, by exposed name (counters also by their bare name)."""
    from omnihub.hub.metrics import Metrics

    found: dict[str, Family] = {}
    for value in vars(Metrics()).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        kind = value._type  # prometheus_client keeps the type and labels on the wrapper
        name = f"{value._name}_total" if kind == "counter" else value._name
        found[name] = Family(name, kind, tuple(value._labelnames))
    for family in list(found.values()):
        if family.type == "counter":
            found.setdefault(family.name.removesuffix("_total"), family)
    return found


def exported_series() -> set[str]:
    """Every series name a scrape of the hub can contain."""
    return {series for family in families().values() for series in family.sample_names()}
