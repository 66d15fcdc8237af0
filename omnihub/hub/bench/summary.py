"""From the runs of the ingest benchmark to medians, ratios, checks and a table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from omnihub.hub.bench.load import LoadResult
from omnihub.hub.bench.report import format_spread, format_table
from omnihub.hub.bench.stats import Spread, ratios, spread

# Issue 2: the durable hub reaches 15% of the bare handler with p99 under 50 ms.
TARGET_RATIO = 0.15
TARGET_P99_MS = 50.0
# Half-range of the rep ratios above which the report warns about a noisy machine.
NOISY_RANGE = 0.10


@dataclass(frozen=True)
class Run:
    """One measured run of one server in one rep."""

    server: str
    rep: int
    load: LoadResult
    cpu_us_per_request: float
    core_busy: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "server": self.server, "rep": self.rep, **self.load.as_dict(),
            "cpu_us_per_request": self.cpu_us_per_request, "core_busy": self.core_busy,
        }


@dataclass(frozen=True)
class ServerFigures:
    """Median and range over the reps of one server."""

    rps: Spread
    p50_ms: Spread
    p99_ms: Spread
    cpu_us: Spread
    core_busy: dict[str, float]  # median busy fraction per CPU while this server ran

    @classmethod
    def of(cls, runs: Sequence[Run]) -> ServerFigures:
        cores = sorted({core for run in runs for core in run.core_busy})
        return cls(
            rps=spread([run.load.rps for run in runs]),
            p50_ms=spread([run.load.p50_ms for run in runs]),
            p99_ms=spread([run.load.p99_ms for run in runs]),
            cpu_us=spread([run.cpu_us_per_request for run in runs]),
            core_busy={
                core: spread([run.core_busy.get(core, 0.0) for run in runs]).median
                for core in cores
            },
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "rps": self.rps.as_dict(), "p50_ms": self.p50_ms.as_dict(),
            "p99_ms": self.p99_ms.as_dict(), "cpu_us_per_request": self.cpu_us.as_dict(),
            "core_busy": self.core_busy,
        }


@dataclass(frozen=True)
class IngestSummary:
    """Everything the ingest report states."""

    bare: ServerFigures
    hub: ServerFigures
    ratio: Spread  # hub rps / bare rps, rep by rep
    cpu_ratio: Spread  # hub CPU µs/request / bare's, rep by rep
    stored: int
    ok_answers: int
    # The target this summary is judged by: issue 2's for SQLite unless given.
    target_ratio: float = TARGET_RATIO
    target_p99_ms: float = TARGET_P99_MS

    @property
    def durable(self) -> bool:
        """Every acknowledged message is in the store (durable before ack)."""
        return self.stored >= self.ok_answers

    @property
    def target_met(self) -> bool:
        return (self.ratio.median >= self.target_ratio
                and self.hub.p99_ms.median < self.target_p99_ms)

    def table(self) -> list[str]:
        """The figures, then the durability check and the verdict on the target."""
        verdict = "met" if self.target_met else "NOT met"
        return [
            *self.figures_table(),
            f"durable before ack: {self.stored:,} messages stored for {self.ok_answers:,} "
            f"2xx answers (hub SIGKILLed first): {'ok' if self.durable else 'FAILED'}",
            f"target ratio >= {self.target_ratio} with hub p99 < {self.target_p99_ms:g} ms: "
            f"{verdict}",
            *self.noise_warning(),
        ]

    def figures_table(self) -> list[str]:
        """Both servers' figures and the per-rep ratios, without checks or verdict."""
        rows = [
            [
                name,
                format_spread(figures.rps),
                format_spread(figures.p50_ms, 2),
                format_spread(figures.p99_ms, 2),
                format_spread(figures.cpu_us, 1),
                ", ".join(f"{core} {busy:.0%}" for core, busy in figures.core_busy.items()),
            ]
            for name, figures in (("bare", self.bare), ("hub", self.hub))
        ]
        header = ["server", "msgs/s", "p50 ms", "p99 ms", "CPU µs/req", "CPU busy"]
        return [
            *format_table(header, rows),
            f"CPU per request hub/bare: {format_spread(self.cpu_ratio, 2)}",
            f"ratio per rep: {format_spread(self.ratio, 3)}",
        ]

    def noise_warning(self) -> list[str]:
        """Say so when reps disagree by more than the ±10% a quiet machine gives."""
        if self.ratio.relative_range <= NOISY_RANGE:
            return []
        return [
            f"note: the ratio varies by ±{self.ratio.relative_range:.0%} between reps; "
            "something else is probably using these CPUs (see CPU busy); run more --reps"
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "bare": self.bare.as_dict(), "hub": self.hub.as_dict(),
            "ratio": self.ratio.as_dict(), "cpu_ratio": self.cpu_ratio.as_dict(),
            "stored_messages": self.stored, "hub_2xx_answers": self.ok_answers,
            "durable": self.durable, "target_met": self.target_met,
            "target": {"ratio": self.target_ratio, "p99_ms": self.target_p99_ms},
        }


def summarize(runs: Sequence[Run], *, stored: int, ok_answers: int,
              target_ratio: float = TARGET_RATIO,
              target_p99_ms: float = TARGET_P99_MS) -> IngestSummary:
    """Pair each hub run with the bare run of its rep and take medians and ranges."""
    by_server: dict[str, dict[int, Run]] = {"bare": {}, "hub": {}}
    for run in runs:
        by_server[run.server][run.rep] = run
    reps = sorted(set(by_server["bare"]) & set(by_server["hub"]))
    if not reps:
        raise ValueError("no rep has both a hub and a bare run")
    bare = [by_server["bare"][rep] for rep in reps]
    hub = [by_server["hub"][rep] for rep in reps]
    return IngestSummary(
        bare=ServerFigures.of(bare),
        hub=ServerFigures.of(hub),
        ratio=spread(ratios([r.load.rps for r in hub], [r.load.rps for r in bare])),
        cpu_ratio=spread(
            ratios([r.cpu_us_per_request for r in hub], [r.cpu_us_per_request for r in bare])
        ),
        stored=stored,
        ok_answers=ok_answers,
        target_ratio=target_ratio,
        target_p99_ms=target_p99_ms,
    )
