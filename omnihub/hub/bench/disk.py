"""The disk's own durability cost, measured beside the hub's figures in the same run.

A durable acknowledgement costs at least one fdatasync of the store's disk (SQLite in WAL
with synchronous=FULL syncs the log on each commit), so no ingest latency can beat it, and
it is what varies most between machines: 0.1 ms on a host-cached virtual disk, 2-8 ms on a
busy or network-backed one. Reporting latencies next to it (and in units of it) is what
makes figures from two machines comparable.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from omnihub.hub.bench.latency_stats import Latencies

SAMPLES = 200
BLOCK = b"\0" * 4096  # one page appended per sync, like a small WAL commit


def fdatasync_latency(directory: Path, samples: int = SAMPLES) -> Latencies:
    """p50/p99 of append-4-KiB-then-fdatasync in `directory` (the store's disk)."""
    sync = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync
    taken: list[float] = []
    with tempfile.NamedTemporaryFile(dir=directory, prefix="fsync-probe-") as probe:
        fd = probe.fileno()
        for _ in range(samples):
            os.write(fd, BLOCK)
            started = time.perf_counter()
            sync(fd)
            taken.append(time.perf_counter() - started)
    return Latencies.of(taken)


def describe(disk: Latencies) -> str:
    return (f"disk baseline: append 4 KiB + fdatasync p50 {disk.p50:.3f} ms, "
            f"p99 {disk.p99:.3f} ms (the floor of any durable acknowledgement here)")
