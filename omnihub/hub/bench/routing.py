"""Routing cost per message, next to the API channel's parse cost measured in the same run.

Issue 3 asks that routing one message against 1,000 rules (keywords and regexes, the
worst case: nothing matches) stays under 20 µs. A bare µs figure drifts with the
machine, so the report also states it as a ratio to parsing one typical API-channel
post (parse_post), the step every inbound message already pays for.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from omnihub.connectors.api.parse import parse_post
from omnihub.hub.bench.base import Benchmark, BenchOptions, Report
from omnihub.hub.bench.payloads import build_body, customer_ref, message_texts
from omnihub.hub.bench.report import format_table
from omnihub.router.bench import bench_routing

RULES = 1_000
RULES_LARGE = 10_000
TARGET_US = 20.0


def typical_post() -> tuple[Any, bytes]:
    """The decoded body and raw bytes of one API post, as the ingest benchmark sends it."""
    body = build_body("bench-0000001", customer_ref(1), message_texts(1, 120)[0])
    return orjson.loads(body), body


def parse_us(iterations: int = 20_000) -> float:
    """Best-of-five µs for parse_post of a typical body (warm, like routing's figure)."""
    data, raw = typical_post()
    for _ in range(min(iterations, 200)):
        parse_post("api", data, raw=raw)
    per_round = max(iterations // 5, 1)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter_ns()
        for _ in range(per_round):
            parse_post("api", data, raw=raw)
        best = min(best, (time.perf_counter_ns() - started) / per_round / 1000)
    return best


def routing_report(routing: dict[str, Any], parse: float) -> Report:
    """Word the figures of bench_routing plus the parse cost as a Report (pure, testable)."""
    per_route = float(routing["us_per_route"])
    large = routing.get("us_per_route_large")
    scale = float(large) / per_route if large is not None and per_route else None
    to_parse = per_route / parse if parse else None
    figures: dict[str, Any] = {
        **routing,
        "us_per_parse": round(parse, 2),
        "ratio_large_to_small": None if scale is None else round(scale, 2),
        "ratio_route_to_parse": None if to_parse is None else round(to_parse, 2),
        "target_us": TARGET_US,
        "target_met": per_route < TARGET_US,
    }
    rows = [[f"route, {routing['rules']:,} rules (no match)", f"{per_route:.2f}"]]
    if large is not None:
        rows.append([f"route, {routing['rules_large']:,} rules (no match)", f"{float(large):.2f}"])
    rows.append(["route with explain (every rule)", f"{float(routing['us_per_explain']):.2f}"])
    rows.append(["parse_post, typical API body", f"{parse:.2f}"])
    lines = format_table(["step", "µs/message"], rows)
    if scale is not None:
        lines.append(f"{routing['rules_large']:,}/{routing['rules']:,} rules ratio: {scale:.2f}")
    if to_parse is not None:
        lines.append(f"routing/parse ratio: {to_parse:.2f}")
    lines.append(f"target < {TARGET_US:g} µs: {'met' if figures['target_met'] else 'MISSED'}")
    return Report(
        name="routing",
        lines=lines,
        figures=figures,
        final_line=f"routing µs/message ({routing['rules']:,} rules): {per_route:.2f}",
    )


def run(options: BenchOptions) -> Report:
    """Measure routing and parsing in this process; the load options do not apply."""
    options.progress(f"routing: compiling {RULES:,} and {RULES_LARGE:,} synthetic rules")
    routing = bench_routing(RULES, large=RULES_LARGE)
    return routing_report(routing, parse_us())


ROUTING = Benchmark(
    name="routing",
    summary="µs to route one message against 1,000 rules, versus the API channel's parse",
    run=run,
)
