"""The latency benchmark's bookkeeping: delays from the schedule, missing and duplicates."""

from __future__ import annotations

import math

import orjson
import pytest

from omnihub.hub.bench.latency_io import external_id, message_body, seq_of
from omnihub.hub.bench.latency_stats import (
    ACK,
    SSE,
    WEBHOOK,
    Latencies,
    Recorder,
    achieved_rate,
    latency_table,
    ratio,
)
from omnihub.hub.bench.registry import names


def recorder_with(scheduled: dict[int, float], warm: int = 0) -> Recorder:
    rec = Recorder()
    for seq, at in scheduled.items():
        rec.schedule(seq, at, measured=seq >= warm)
    return rec


def test_delays_count_from_the_scheduled_time_not_the_send() -> None:
    rec = recorder_with({0: 10.0, 1: 10.001})
    rec.arrived(SSE, 0, 10.002)
    rec.arrived(SSE, 1, 10.051)  # a stalled sender: 50 ms late, all of it counted
    lat = rec.latencies(SSE)
    assert lat.count == 2
    assert lat.p50 == pytest.approx(2.0)
    assert lat.max == pytest.approx(50.0)


def test_warm_up_messages_are_not_measured_but_are_checked_for_delivery() -> None:
    rec = recorder_with({0: 0.0, 1: 1.0, 2: 2.0}, warm=1)
    for seq in (0, 1, 2):
        rec.arrived(ACK, seq, seq + 0.001)
    rec.arrived(SSE, 1, 1.5)
    rec.arrived(SSE, 2, 2.5)
    assert rec.latencies(SSE).count == 2
    assert rec.missing(SSE) == 1  # message 0 was acknowledged but never streamed


def test_duplicates_and_strangers_are_counted_and_the_first_arrival_kept() -> None:
    rec = recorder_with({0: 0.0})
    rec.arrived(WEBHOOK, 0, 0.003)
    rec.arrived(WEBHOOK, 0, 0.009)
    rec.arrived(WEBHOOK, 99, 0.010)
    arrivals = rec.paths[WEBHOOK]
    assert arrivals.duplicates == 1
    assert arrivals.unknown == 1
    assert rec.latencies(WEBHOOK).max == pytest.approx(3.0)


def test_failed_sends_are_not_missing_acks() -> None:
    rec = recorder_with({0: 0.0, 1: 0.0})
    rec.arrived(ACK, 0, 0.001)
    rec.failed = 1
    assert rec.missing(ACK) == 0
    assert rec.missing(SSE) == 1  # only the acknowledged message is owed a delivery


def test_latencies_use_nearest_rank_percentiles() -> None:
    lat = Latencies.of([i / 1000 for i in range(1, 101)])  # 1..100 ms
    assert (lat.p50, lat.p99, lat.max) == (pytest.approx(50), pytest.approx(99),
                                           pytest.approx(100))
    assert math.isnan(Latencies.of([]).p99)


def test_achieved_rate_and_ratio() -> None:
    assert achieved_rate([0.0, 0.5, 1.0]) == pytest.approx(2.0)
    assert math.isnan(achieved_rate([1.0]))
    assert ratio(15.0, 1.5) == pytest.approx(10.0)
    assert math.isnan(ratio(1.0, 0.0))


def test_table_has_one_row_per_path() -> None:
    lines = latency_table({"hub SSE arrival": Latencies(3, 1.0, 2.0, 3.0)})
    assert "p99 ms" in lines[0]
    assert lines[1].split() == ["hub", "SSE", "arrival", "3", "1.00", "2.00", "3.00"]


def test_events_are_matched_to_this_runs_messages_only() -> None:
    body = orjson.loads(message_body("lat-ab", 42, 12.5, 10, "hello"))
    assert body["external_id"] == external_id("lat-ab", 42)
    assert "seq=42" in body["text"]
    event = {"type": "message.received", "data": {"external_id": body["external_id"]}}
    assert seq_of("lat-ab", event) == 42
    assert seq_of("lat-cd", event) is None
    assert seq_of("lat-ab", {**event, "type": "conversation.created"}) is None


def test_latency_is_registered() -> None:
    assert "latency" in names()


def test_delivery_rate_runs_from_the_first_scheduled_send_to_the_last_arrival() -> None:
    rec = recorder_with({0: 0.0, 1: 0.5, 2: 1.0})
    for seq in (0, 1, 2):
        rec.arrived(SSE, seq, 1.5 + seq / 2)  # the last one lands at 2.5 s
    assert rec.delivery_rate(SSE) == pytest.approx(3 / 2.5)
    assert math.isnan(rec.delivery_rate(WEBHOOK))


def test_the_disk_baseline_measures_real_syncs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from omnihub.hub.bench.disk import describe, fdatasync_latency

    disk = fdatasync_latency(tmp_path, samples=20)
    assert disk.count == 20 and 0 < disk.p50 <= disk.p99 <= disk.max
    assert list(tmp_path.iterdir()) == []  # the probe file is gone
    assert "fdatasync p50" in describe(disk)
