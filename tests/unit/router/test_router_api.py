"""The router package's public names, and the benchmark function (run small, not timed)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import omnihub.router as router
from omnihub.router import CompiledRouter, RouteInput
from omnihub.router.bench import bench_routing, synthetic_config


def test_exported_names_exist() -> None:
    assert sorted(router.__all__) == sorted(set(router.__all__))
    for name in router.__all__:
        assert getattr(router, name) is not None


def test_bench_function_reports_microseconds() -> None:
    result = bench_routing(60, iterations=50, large=120)
    assert result["rules"] == 60 and result["rules_large"] == 120
    assert result["literals"] > 60
    assert result["us_per_route"] > 0 and result["us_per_route_large"] > 0


def test_keyword_index_never_changes_a_decision() -> None:
    """Messages built from rules' own keywords and regex matches: the indexed fast path
    and explain (which evaluates every rule) agree on every one."""
    config = synthetic_config(300, seed=3)
    compiled = CompiledRouter(config)
    rng = random.Random(5)
    now = datetime(2026, 3, 2, 10, tzinfo=UTC)
    pieces: list[str] = []
    for rule in config.rules:
        if rule.when.text:
            pieces += rule.when.text.any
        else:
            stem = rule.when.regex[0].split("|")[0].removeprefix("(?:")
            pieces += [f"{stem} #12345", f"{stem.upper()}123"]
    matched_somewhere = 0
    for _ in range(400):
        text = " ".join(rng.choice(pieces) for _ in range(rng.randint(0, 3)))
        message = RouteInput(channel_type=rng.choice(["sms", "webchat"]), text=text)
        fast = compiled.route(message, now=now)
        slow = compiled.route(message, now=now, explain=True)
        assert fast.matched_rules == slow.matched_rules, text
        matched_somewhere += bool(fast.matched_rules)
        json.dumps(fast.to_dict())
    assert matched_somewhere > 200
