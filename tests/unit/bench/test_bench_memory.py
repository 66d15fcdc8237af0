"""RSS readings and what the soak and per-item figures make of them."""

from __future__ import annotations

import os
import resource

import pytest

from omnihub.hub.bench import memory
from omnihub.hub.bench.conversations import Growth, per_conversation_bytes
from omnihub.hub.bench.memory import Sample

STATUS = """Name:\tpython3
VmPeak:\t  500000 kB
VmRSS:\t  151860 kB
RssAnon:\t  100000 kB
"""


def test_vmrss_is_read_in_kib() -> None:
    assert memory.parse_vmrss_kib(STATUS) == 151860


def test_a_status_without_vmrss_is_an_error() -> None:
    with pytest.raises(ValueError, match="VmRSS"):
        memory.parse_vmrss_kib("Name:\tkthreadd\nState:\tS\n")


def test_rss_of_this_process_is_plausible() -> None:
    # The running interpreter holds some MiB, and not a terabyte.
    assert 4 * 1024 < memory.rss_kib(os.getpid()) < 1024**3


def test_raise_nofile_never_lowers_and_never_passes_the_hard_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert memory.raise_nofile(16) == soft  # asking for less changes nothing
    wanted = soft + 10 if hard == resource.RLIM_INFINITY else hard + 10
    new = memory.raise_nofile(wanted)
    assert new == (wanted if hard == resource.RLIM_INFINITY else hard)
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == new


def test_per_item_bytes() -> None:
    assert memory.per_item_bytes(1000, 1010, 10) == 1024.0
    assert memory.per_item_bytes(1010, 1000, 10) == -1024.0
    with pytest.raises(ValueError):
        memory.per_item_bytes(0, 1, 0)


def test_slope_is_kib_per_minute() -> None:
    # +1 KiB every 10 s is 6 KiB a minute, whatever the intercept.
    samples = [Sample(at, 5000 + int(at / 10)) for at in range(0, 600, 10)]
    assert memory.slope_per_minute(samples) == pytest.approx(6.0)
    assert memory.slope_per_minute(samples[:1]) == 0.0
    assert memory.slope_per_minute([Sample(5, 1), Sample(5, 9)]) == 0.0


def test_trend_fits_only_after_the_warm_up() -> None:
    # Fast growth in the first minute, flat afterwards: flat.
    warm = [Sample(at, 100_000 + at * 100) for at in range(0, 60, 10)]
    steady = [Sample(at, 106_000) for at in range(60, 600, 10)]
    t = memory.trend(warm + steady, warmup=60)
    assert (t.start_kib, t.steady_start_kib, t.max_kib, t.end_kib) == (100_000, 106_000,
                                                                       106_000, 106_000)
    assert t.slope_kib_per_min == 0.0 and t.steady_samples == 54
    assert t.flat(256)


def test_a_steady_leak_is_not_flat() -> None:
    leaking = [Sample(at, 100_000 + at * 10) for at in range(0, 600, 10)]  # 600 KiB/min
    t = memory.trend(leaking, warmup=60)
    assert t.slope_kib_per_min == pytest.approx(600.0)
    assert not t.flat(256)


def test_too_few_samples_after_the_warm_up_is_no_verdict() -> None:
    t = memory.trend([Sample(0, 1), Sample(10, 1)], warmup=60)
    assert t.steady_samples == 1 and not t.flat(256)


def growth(name: str, before: int, after: int, conversations: int) -> Growth:
    return Growth(name, conversations, before, after, conversations, 10_000, 0, 1.0)


def test_per_conversation_subtracts_what_the_same_traffic_costs_anyway() -> None:
    open_ = growth("open", 150_000, 170_000, 10_100)  # +20,000 KiB
    baseline = growth("baseline", 150_000, 160_000, 100)  # +10,000 KiB
    assert per_conversation_bytes(open_, baseline) == pytest.approx(10_000 * 1024 / 10_000)


def test_a_late_sample_skips_the_ticks_it_missed_instead_of_doubling_up() -> None:
    from omnihub.hub.bench.soak import next_tick

    assert next_tick(0, 0.0, 10) == 1
    assert next_tick(3, 30.01, 10) == 4  # on time
    assert next_tick(3, 29.99, 10) == 4  # a hair early: still the next one, not tick 3 again
    assert next_tick(4, 63.0, 10) == 7  # stalled past 50 and 60: next is 70
