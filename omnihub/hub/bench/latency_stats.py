"""Per-message arrival bookkeeping and percentiles for the latency benchmark.

Every delay is measured from the message's SCHEDULED send time, not from when the
sender got round to it, so a stalled sender cannot hide the stall (coordinated
omission); all clocks are this process's time.monotonic().
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from omnihub.hub.bench.stats import percentile

ACK = "ingest ack"
SSE = "SSE arrival"
WEBHOOK = "webhook arrival"


@dataclass(frozen=True)
class Latencies:
    """p50, p99 and max of one path, in milliseconds, over `count` messages."""

    count: int
    p50: float
    p99: float
    max: float

    @classmethod
    def of(cls, seconds: list[float]) -> Latencies:
        if not seconds:
            return cls(0, math.nan, math.nan, math.nan)
        ordered = sorted(seconds)
        return cls(len(ordered), percentile(ordered, 50) * 1e3, percentile(ordered, 99) * 1e3,
                   ordered[-1] * 1e3)

    def as_dict(self) -> dict[str, float]:
        return {"count": self.count, "p50_ms": self.p50, "p99_ms": self.p99, "max_ms": self.max}


@dataclass
class Arrivals:
    """When each message of one path arrived; a second arrival is counted, not kept."""

    first: dict[int, float] = field(default_factory=dict)
    duplicates: int = 0
    unknown: int = 0  # arrivals naming no message this run sent

    def record(self, seq: int | None, at: float) -> None:
        if seq is None:
            self.unknown += 1
        elif seq in self.first:
            self.duplicates += 1
        else:
            self.first[seq] = at


@dataclass
class Recorder:
    """Scheduled send times and the ack, SSE and webhook arrivals of one open-loop run."""

    scheduled: dict[int, float] = field(default_factory=dict)
    measured: set[int] = field(default_factory=set)  # past the warm-up
    failed: int = 0  # non-2xx answers or errors
    paths: dict[str, Arrivals] = field(
        default_factory=lambda: {ACK: Arrivals(), SSE: Arrivals(), WEBHOOK: Arrivals()})

    def schedule(self, seq: int, at: float, *, measured: bool) -> None:
        self.scheduled[seq] = at
        if measured:
            self.measured.add(seq)

    def arrived(self, path: str, seq: int | None, at: float) -> None:
        self.paths[path].record(seq if seq in self.scheduled else None, at)

    def missing(self, path: str) -> int:
        """Messages sent (acked with 2xx, for the deliveries) that never arrived."""
        arrived = self.paths[path].first
        if path == ACK:
            return sum(1 for seq in self.scheduled if seq not in arrived) - self.failed
        acked = self.paths[ACK].first
        return sum(1 for seq in acked if seq not in arrived)

    def delivery_rate(self, path: str) -> float:
        """Arrivals per second from the first scheduled send to the last arrival on `path`:
        below the send rate, a backlog grew through the run."""
        arrived = self.paths[path].first
        if not arrived or not self.scheduled:
            return math.nan
        span = max(arrived.values()) - min(self.scheduled.values())
        return len(arrived) / span if span > 0 else math.nan

    def latencies(self, path: str) -> Latencies:
        """Delays of the measured (post-warm-up) messages on `path`, from their schedule."""
        arrived = self.paths[path].first
        return Latencies.of([arrived[seq] - self.scheduled[seq]
                             for seq in self.measured if seq in arrived])


def achieved_rate(send_times: list[float]) -> float:
    """Messages per second the sender actually put on the wire."""
    if len(send_times) < 2:
        return math.nan
    span = max(send_times) - min(send_times)
    return (len(send_times) - 1) / span if span > 0 else math.nan


def latency_table(rows: dict[str, Latencies]) -> list[str]:
    """One aligned line per path: count, p50, p99, max (ms)."""
    lines = [f"  {'path':<22}{'count':>8}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}"]
    for name, lat in rows.items():
        lines.append(f"  {name:<22}{lat.count:>8}{lat.p50:>10.2f}{lat.p99:>10.2f}{lat.max:>10.2f}")
    return lines


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when the baseline is missing or zero."""
    if not denominator or math.isnan(denominator):
        return math.nan
    return numerator / denominator
