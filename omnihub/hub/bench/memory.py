"""Resident memory of a process under test, and what a series of samples says about it.

RSS comes from /proc/<pid>/status (VmRSS, KiB): what the kernel has given the process
and it still holds, shared library pages included. It is coarse (the allocator keeps
freed memory), which is why every memory figure here is a difference between two
readings of the same process, or a trend over many, never one absolute reading.
"""

from __future__ import annotations

import resource
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


def parse_vmrss_kib(status: str) -> int:
    """VmRSS of a /proc/<pid>/status text, in KiB."""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            value, unit = line.split()[1:3]
            if unit != "kB":
                raise ValueError(f"unexpected VmRSS unit {unit!r}")
            return int(value)
    raise ValueError("no VmRSS line (a kernel thread, or the process has exited)")


def rss_kib(pid: int) -> int:
    """The process's resident set size now, in KiB."""
    return parse_vmrss_kib(Path(f"/proc/{pid}/status").read_text())


def raise_nofile(wanted: int) -> int:
    """Raise this process's open-file limit towards `wanted` (up to the hard limit).

    Children inherit it, so call it before starting the servers. Returns the new soft limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def per_item_bytes(before_kib: float, after_kib: float, items: int) -> float:
    """Bytes of RSS growth per item between two readings (negative growth stays negative)."""
    if items <= 0:
        raise ValueError("items must be positive")
    return (after_kib - before_kib) * 1024 / items


@dataclass(frozen=True)
class Sample:
    """One RSS reading: seconds since the run started, KiB."""

    at: float
    kib: int


def slope_per_minute(samples: Sequence[Sample]) -> float:
    """Least-squares slope of RSS over time, in KiB per minute (0 with under two samples)."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mean_t = sum(s.at for s in samples) / n
    mean_k = sum(s.kib for s in samples) / n
    spread = sum((s.at - mean_t) ** 2 for s in samples)
    if spread == 0:
        return 0.0
    covariance = sum((s.at - mean_t) * (s.kib - mean_k) for s in samples)
    return covariance / spread * 60.0


@dataclass(frozen=True)
class Trend:
    """RSS over a soak: start, max and end, and the slope after the warm-up."""

    start_kib: int
    max_kib: int
    end_kib: int
    steady_start_kib: int  # first sample after the warm-up
    slope_kib_per_min: float  # over the samples after the warm-up
    steady_samples: int

    def flat(self, bound_kib_per_min: float) -> bool:
        """Flat: the post-warm-up slope is under the bound (and there were samples to fit)."""
        return self.steady_samples >= 3 and self.slope_kib_per_min <= bound_kib_per_min

    def as_dict(self) -> dict[str, float]:
        return {"start_kib": self.start_kib, "max_kib": self.max_kib, "end_kib": self.end_kib,
                "steady_start_kib": self.steady_start_kib,
                "slope_kib_per_min": self.slope_kib_per_min,
                "steady_samples": self.steady_samples}


def trend(samples: Sequence[Sample], warmup: float) -> Trend:
    """Summarize a series; samples taken before `warmup` seconds only count for start/max."""
    if not samples:
        raise ValueError("no samples")
    steady = [s for s in samples if s.at >= warmup] or list(samples[-1:])
    return Trend(
        start_kib=samples[0].kib,
        max_kib=max(s.kib for s in samples),
        end_kib=samples[-1].kib,
        steady_start_kib=steady[0].kib,
        slope_kib_per_min=slope_per_minute(steady),
        steady_samples=len(steady),
    )
