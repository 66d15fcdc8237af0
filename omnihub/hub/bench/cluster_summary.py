"""From the runs of the 2-process ingest benchmark to ratios, checks and a table.

Four setups per rep, all against the same PostgreSQL + Redis: the bare handler (one
process), two bare processes (what two processes can gain at most on this machine),
one hub, and two hubs. The figures that travel are per-rep ratios: hub×2 over bare,
hub×2 over hub, and bare×2 over bare.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from omnihub.hub.bench.load import LoadResult
from omnihub.hub.bench.report import format_spread, format_table
from omnihub.hub.bench.stats import Spread, ratios, spread
from omnihub.hub.bench.summary import Run, ServerFigures

BARE, BARE2, HUB, HUB2 = "bare", "bare x2", "hub", "hub x2"
SETUPS = (BARE, BARE2, HUB, HUB2)
# (numerator, denominator, what it says)
RATIOS = (
    (HUB2, BARE, "2-process hub / bare"),
    (HUB2, HUB, "2-process hub / 1-process hub (scaling)"),
    (HUB, BARE, "1-process hub / bare"),
    (BARE2, BARE, "2 bare processes / 1 (the machine's headroom)"),
)


def combine(results: Sequence[LoadResult]) -> LoadResult:
    """One figure for load generators that ran side by side, one per process.

    Requests add up over the longest duration. Percentiles cannot be merged from
    summaries, so each is the WORST of the streams' (an upper bound, never flattering).
    """
    if not results:
        raise ValueError("no load results to combine")
    return LoadResult(
        generator=results[0].generator,
        requests=sum(r.requests for r in results),
        duration_s=max(r.duration_s for r in results),
        p50_ms=max(r.p50_ms for r in results),
        p90_ms=max(r.p90_ms for r in results),
        p99_ms=max(r.p99_ms for r in results),
        max_ms=max(r.max_ms for r in results),
        non_2xx=sum(r.non_2xx for r in results),
        socket_errors=sum(r.socket_errors for r in results),
        sent=sum(r.sent for r in results),
        wraps=sum(r.wraps for r in results),
    )


@dataclass(frozen=True)
class ClusterCheck:
    """Correctness of the hubs' runs: every 2xx stored, once, with one event, all sent on.

    `stored` counts the measured messages in the store after both hubs were SIGKILLed;
    `sent` is every request the generators wrote (an upper bound: a request in flight at
    the end may be stored without its answer being counted); `events` the
    message.received events for those messages; `pending` outbox rows still not on the
    Redis bus after the drain wait.
    """

    ok_answers: int
    sent: int
    stored: int
    distinct: int  # distinct external ids among the stored ones
    events: int
    pending: int
    wraps: int = 0

    def problems(self) -> list[str]:
        found = []
        if self.wraps:
            found.append(f"a request file was replayed {self.wraps} time(s): repeated ids "
                         "make the stored-once count inconclusive")
        if self.stored < self.ok_answers:
            found.append(f"only {self.stored:,} messages stored for {self.ok_answers:,} "
                         "2xx answers")
        if self.stored > self.sent:
            found.append(f"{self.stored:,} messages stored but only {self.sent:,} sent")
        if self.distinct != self.stored:
            found.append(f"{self.stored - self.distinct:,} messages stored twice")
        if self.events != self.stored:
            found.append(f"{self.events:,} message.received events for {self.stored:,} "
                         "messages")
        if self.pending:
            found.append(f"{self.pending:,} outbox rows never reached the Redis bus")
        return found

    def line(self) -> str:
        verdict = "ok" if not self.problems() else "FAILED"
        return (f"stored once: {self.stored:,} messages ({self.distinct:,} distinct ids, "
                f"{self.events:,} message.received events) for {self.ok_answers:,} 2xx "
                f"answers of {self.sent:,} sent; {self.pending} outbox rows left: {verdict}")

    def as_dict(self) -> dict[str, Any]:
        return {"ok_answers": self.ok_answers, "sent": self.sent, "stored": self.stored,
                "distinct": self.distinct, "events": self.events, "pending": self.pending,
                "wraps": self.wraps, "ok": not self.problems()}


@dataclass(frozen=True)
class ClusterSummary:
    figures: dict[str, ServerFigures]  # by setup
    ratios: dict[str, Spread]  # by RATIOS label

    def ratio(self, numerator: str, denominator: str) -> Spread:
        for num, den, label in RATIOS:
            if (num, den) == (numerator, denominator):
                return self.ratios[label]
        raise KeyError((numerator, denominator))

    def table(self) -> list[str]:
        rows = [
            [setup, format_spread(f.rps), format_spread(f.p50_ms, 2),
             format_spread(f.p99_ms, 2), format_spread(f.cpu_us, 1),
             ", ".join(f"{core} {busy:.0%}" for core, busy in f.core_busy.items())]
            for setup, f in self.figures.items()
        ]
        header = ["setup", "msgs/s", "p50 ms", "p99 ms", "CPU µs/req", "CPU busy"]
        return [*format_table(header, rows),
                *(f"{label}: {format_spread(self.ratios[label], 3)}" for _, _, label in RATIOS)]

    def as_dict(self) -> dict[str, Any]:
        return {"setups": {s: f.as_dict() for s, f in self.figures.items()},
                "ratios": {label: r.as_dict() for label, r in self.ratios.items()}}


def summarize_cluster(runs: Sequence[Run]) -> ClusterSummary:
    """Medians and ranges per setup, and each ratio rep by rep over the complete reps."""
    by_setup: dict[str, dict[int, Run]] = {setup: {} for setup in SETUPS}
    for run in runs:
        by_setup[run.server][run.rep] = run
    reps = sorted(set.intersection(*(set(by_setup[s]) for s in SETUPS)))
    if not reps:
        raise ValueError("no rep has a run of every setup")
    chosen = {setup: [by_setup[setup][rep] for rep in reps] for setup in SETUPS}
    return ClusterSummary(
        figures={setup: ServerFigures.of(chosen[setup]) for setup in SETUPS},
        ratios={
            label: spread(ratios([r.load.rps for r in chosen[num]],
                                 [r.load.rps for r in chosen[den]]))
            for num, den, label in RATIOS
        },
    )
