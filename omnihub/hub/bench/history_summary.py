"""Figures and verdicts of the history benchmark, one backend at a time.

Two levels are timed, each beside a baseline of the same run: the store call
(`customer_history`, first page, in the bench process) against `SELECT 1` in a read
transaction (the floor of any store call), and the HTTP GET against a trivial
authenticated GET of the same hub (the customer's profile) and the bare handler's GET.
The targets (issue 8) are on the store call's p99.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from omnihub.hub.bench.latency_stats import Latencies, latency_table, ratio

# Store-call p99 targets in ms, by backend.
TARGET_P99_MS = {"sqlite": 1.0, "postgresql": 2.0}

STORE_CALL = "history first page"
QUERY_ONLY = "same query, rows only"  # no Message models: the database's share
STORE_BASELINE = "SELECT 1 (baseline)"
HTTP_CALL = "GET history"
HTTP_BASELINE = "GET customer (baseline)"
HTTP_BARE = "GET bare handler"


@dataclass(frozen=True)
class HistoryFigures:
    """What one backend measured."""

    backend: str
    messages: int  # the customer's messages in the store
    other_messages: int  # other customers' messages, interleaved with the customer's
    seed_seconds: float
    store: dict[str, Latencies]
    http: dict[str, Latencies]
    plan: list[str] = field(default_factory=list)
    http_errors: int = 0

    @property
    def target_p99_ms(self) -> float:
        return TARGET_P99_MS[self.backend]

    @property
    def store_p99(self) -> float:
        return self.store[STORE_CALL].p99

    @property
    def target_met(self) -> bool:
        return not math.isnan(self.store_p99) and self.store_p99 <= self.target_p99_ms

    def store_ratio(self) -> float:
        """History p50 over the baseline's p50: what the query itself adds."""
        return ratio(self.store[STORE_CALL].p50, self.store[STORE_BASELINE].p50)

    def http_ratio(self) -> float:
        return ratio(self.http[HTTP_CALL].p50, self.http[HTTP_BASELINE].p50)

    def lines(self) -> list[str]:
        verdict = "met" if self.target_met else "NOT met"
        return [
            f"{self.backend}: a customer with {self.messages:,} messages among "
            f"{self.messages + self.other_messages:,} (seeded in {self.seed_seconds:.1f}s)",
            "  store call (in the bench process):",
            *("  " + line for line in latency_table(self.store)),
            "  HTTP, one keep-alive connection (wrk -c1):",
            *("  " + line for line in latency_table(self.http)),
            f"  p50 ratio history/baseline: store {self.store_ratio():.2f}, "
            f"HTTP {self.http_ratio():.2f}",
            f"  plan: {' | '.join(line.strip() for line in self.plan)}",
            f"  target store-call p99 <= {self.target_p99_ms:g} ms: {verdict} "
            f"({self.store_p99:.3f} ms)",
        ]

    def final(self) -> str:
        return (f"{self.backend} p99 store {self.store_p99:.2f} ms / "
                f"HTTP {self.http[HTTP_CALL].p99:.2f} ms")

    def as_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages, "other_messages": self.other_messages,
            "seed_seconds": self.seed_seconds,
            "store": {k: v.as_dict() for k, v in self.store.items()},
            "http": {k: v.as_dict() for k, v in self.http.items()},
            "store_p50_ratio": self.store_ratio(), "http_p50_ratio": self.http_ratio(),
            "plan": self.plan, "target_p99_ms": self.target_p99_ms,
            "target_met": self.target_met, "http_errors": self.http_errors,
        }


def from_load(p50_ms: float, p99_ms: float, max_ms: float, count: int) -> Latencies:
    """A wrk run's figures as Latencies (wrk reports percentiles, not samples)."""
    return Latencies(count, p50_ms, p99_ms, max_ms)
