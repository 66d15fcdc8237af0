from __future__ import annotations

import pytest

from omnihub.hub.bench import procs


def test_cpu_seconds_from_stat_line_with_awkward_name() -> None:
    # pid (comm) state ppid ... utime=field 14, stime=field 15
    fields = ["S", "1"] + ["0"] * 9 + ["250", "150"] + ["0"] * 30
    line = "4242 (we ird) (name) " + " ".join(fields)
    assert procs.parse_stat_cpu_seconds(line) == pytest.approx(400 / procs.CLOCK_TICKS)


def test_core_busy_between_two_readings() -> None:
    before = procs.parse_core_times(
        "cpu  1 1 1 1 1 1 1 1\ncpu0 100 0 0 100 0 0 0 0\ncpu1 0 0 0 200 0 0 0 0\n"
    )
    after = procs.parse_core_times(
        "cpu  1 1 1 1 1 1 1 1\ncpu0 190 0 0 110 0 0 0 0\ncpu1 25 0 0 275 0 0 0 0\n"
    )
    assert set(after) == {"cpu0", "cpu1"}
    busy = procs.core_busy(before, after)
    assert busy["cpu0"] == pytest.approx(0.9)
    assert busy["cpu1"] == pytest.approx(0.25)


def test_pinning_prefixes_taskset_only_when_asked() -> None:
    assert procs.pinned(["wrk", "-t1"], 1) == ["taskset", "-c", "1", "wrk", "-t1"]
    assert procs.pinned(["wrk", "-t1"], None) == ["wrk", "-t1"]
