"""`omnihub bench`: figures measured against a baseline from the same run.

Each benchmark is a module with one `Benchmark`, listed in registry.BENCHMARKS; see
the shared performance notes for the method (pinning, warm-up, interleaved reps,
medians and ranges, ratios to a baseline).
"""

from __future__ import annotations

from omnihub.hub.bench.base import Benchmark, BenchOptions, Report
from omnihub.hub.bench.registry import BENCHMARKS, UnknownBenchmark, names, select

__all__ = [
    "BENCHMARKS",
    "BenchOptions",
    "Benchmark",
    "Report",
    "UnknownBenchmark",
    "names",
    "select",
]
