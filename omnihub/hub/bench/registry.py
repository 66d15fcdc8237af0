"""The list of benchmarks `omnihub bench` knows, in the order it runs them."""

from __future__ import annotations

import importlib

from omnihub.hub.bench.base import Benchmark

# "module:attribute" of each Benchmark; imported lazily so one broken module does not
# stop the others from being listed.
BENCHMARKS: tuple[str, ...] = (
    "omnihub.hub.bench.ingest:INGEST",
    "omnihub.hub.bench.ingest_pg:INGEST_PG",
    "omnihub.hub.bench.ingest_cluster:INGEST_CLUSTER",
    "omnihub.hub.bench.history:HISTORY",
    "omnihub.hub.bench.routing:ROUTING",
    "omnihub.hub.bench.latency:LATENCY",
    "omnihub.hub.bench.kb:KB",
    "omnihub.hub.bench.sockets:SOCKETS_BENCH",
    "omnihub.hub.bench.conversations:CONVERSATIONS",
    "omnihub.hub.bench.outbound:OUTBOUND",
    "omnihub.hub.bench.soak:SOAK",
)


class UnknownBenchmark(ValueError):
    """--only named a benchmark that is not registered."""


def names() -> list[str]:
    """The registered benchmark names (the module name is the benchmark name)."""
    return [spec.partition(":")[0].rsplit(".", 1)[-1] for spec in BENCHMARKS]


def load(spec: str) -> Benchmark:
    """Import one registered benchmark."""
    module, _, attr = spec.partition(":")
    benchmark = getattr(importlib.import_module(module), attr)
    if not isinstance(benchmark, Benchmark):
        raise TypeError(f"{spec} is not a Benchmark")
    return benchmark


def select(only: tuple[str, ...] | list[str] = ()) -> list[Benchmark]:
    """The benchmarks to run: all of them, or those named in `only` (in registry order)."""
    known = names()
    unknown = [name for name in only if name not in known]
    if unknown:
        raise UnknownBenchmark(
            f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(known)}"
        )
    return [load(spec) for spec, name in zip(BENCHMARKS, known) if not only or name in only]
