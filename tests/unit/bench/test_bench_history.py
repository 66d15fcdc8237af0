"""The history benchmark's verdicts, ratios and request files."""

from __future__ import annotations

import math
from pathlib import Path

from omnihub.hub.bench.history import get_request, write_get_file
from omnihub.hub.bench.history_summary import (
    HTTP_BARE,
    HTTP_BASELINE,
    HTTP_CALL,
    QUERY_ONLY,
    STORE_BASELINE,
    STORE_CALL,
    HistoryFigures,
    from_load,
)
from omnihub.hub.bench.latency_stats import Latencies
from omnihub.hub.bench.payloads import read_requests, split_request


def figures(backend: str, store_p99: float, *, store_p50: float = 0.6) -> HistoryFigures:
    return HistoryFigures(
        backend=backend, messages=100_000, other_messages=100_019, seed_seconds=3.0,
        store={STORE_CALL: Latencies(1000, store_p50, store_p99, 9.0),
               QUERY_ONLY: Latencies(1000, 0.3, 0.5, 2.0),
               STORE_BASELINE: Latencies(1000, 0.2, 0.4, 1.0)},
        http={HTTP_CALL: from_load(1.2, 3.0, 9.0, 5000),
              HTTP_BASELINE: from_load(0.4, 1.0, 2.0, 9000),
              HTTP_BARE: from_load(0.1, 0.2, 1.0, 30000)},
        plan=["SEARCH messages USING INDEX ix_messages_customer_id_id (customer_id=?)"],
    )


def test_targets_differ_per_backend() -> None:
    assert figures("sqlite", 0.9).target_met
    assert not figures("sqlite", 1.5).target_met
    assert figures("postgresql", 1.5).target_met
    assert not figures("postgresql", 2.5).target_met
    nothing = figures("sqlite", math.nan)  # no sample is no pass
    assert not nothing.target_met


def test_ratios_are_history_over_the_baseline_of_the_same_run() -> None:
    result = figures("sqlite", 0.9, store_p50=0.6)
    assert math.isclose(result.store_ratio(), 3.0)
    assert math.isclose(result.http_ratio(), 3.0)
    lines = "\n".join(result.lines())
    assert "NOT met" not in lines and "met (0.900 ms)" in lines
    assert "ix_messages_customer_id_id" in lines
    assert "200,019" in lines
    assert "NOT met" in "\n".join(figures("postgresql", 7.0).lines())
    assert result.as_dict()["target_p99_ms"] == 1.0


def test_get_requests_are_replayable_keep_alive_requests(tmp_path: Path) -> None:
    request = get_request("/api/v1/customers/C1/history", "tok-1")
    assert request.startswith(b"GET /api/v1/customers/C1/history HTTP/1.1\r\n")
    headers, body = split_request(request)
    assert headers["authorization"] == "Bearer tok-1" and body == b""
    assert "authorization" not in split_request(get_request("/readyz", None))[0]
    path = write_get_file(tmp_path / "get.requests", request)
    assert list(read_requests(path)) == [request]
