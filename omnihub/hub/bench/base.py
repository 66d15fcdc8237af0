"""The shape every benchmark shares: its options in, one report out.

Each benchmark is a module that exposes one `Benchmark`; registry.py lists them, so a
new figure (routing, history, SSE latency) is a new module plus one line there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Generator = Literal["auto", "wrk", "python"]


def _print_progress(message: str) -> None:
    """Default progress sink: stderr, so stdout stays the report alone."""
    import sys

    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class BenchOptions:
    """How long and how hard to measure; shared by every benchmark."""

    duration: float = 10.0
    warmup: float = 3.0
    reps: int = 3
    connections: int = 64
    generator: Generator = "auto"
    pin: bool = True
    # --quick: benchmarks with a size of their own (socket count, soak length) shrink it.
    quick: bool = False
    progress: Callable[[str], None] = _print_progress


@dataclass
class Report:
    """What a benchmark measured: a table for people, figures for --json, a verdict."""

    name: str
    lines: list[str]
    figures: dict[str, Any]
    final_line: str
    # False when a correctness check failed (lost acks, non-2xx): the numbers are void.
    ok: bool = True
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Benchmark:
    """A named benchmark: `run` drives the system under test and returns its Report."""

    name: str
    summary: str
    run: Callable[[BenchOptions], Report]
