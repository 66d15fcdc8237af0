"""Table-driven routing: each case in data/route_cases.yaml routed in both modes."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from omnihub.router import CompiledRouter, Decision, RouteInput, compile_router, load_routing

from .conftest import DATA, instant, load_cases

CASES = load_cases("route_cases.yaml")
TIME_KEYS = {"first_response_due", "next_response_due", "resolution_due", "hold_until"}


@cache
def router(name: str) -> CompiledRouter:
    return compile_router(load_routing(DATA / "routing" / name))


def message(spec: dict[str, Any]) -> RouteInput:
    text = spec.get("text", "")
    return RouteInput(
        channel_type=spec["channel"],
        channel_id=spec.get("channel_id"),
        text=text,
        kinds=frozenset(spec.get("kinds", ["text"] if text else [])),
        customer_tags=frozenset(spec.get("tags", [])),
        customer_attributes=spec.get("attrs", {}),
        language=spec.get("language"),
    )


def check(decision: Decision, compiled: CompiledRouter, expect: dict[str, Any]) -> None:
    for key, wanted in expect.items():
        if key == "trace":
            continue
        if key == "matched":
            actual: Any = [compiled.rule_name(i) for i in decision.matched_rules]
        elif key == "tags":
            actual = list(decision.tags)
        else:
            actual = getattr(decision, key)
        if key in TIME_KEYS and wanted is not None:
            wanted = instant(wanted)
        assert actual == wanted, f"{key}: got {actual!r}, expected {wanted!r}"


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_route_case(case: dict[str, Any]) -> None:
    compiled = router(case["routing"])
    decision = compiled.route(message(case["message"]), now=instant(case["at"]))
    check(decision, compiled, case["expect"])
    assert decision.trace == ()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_explain_decides_the_same_and_says_why(case: dict[str, Any]) -> None:
    compiled = router(case["routing"])
    msg, now = message(case["message"]), instant(case["at"])
    fast = compiled.route(msg, now=now)
    explained = compiled.route(msg, now=now, explain=True)
    assert explained.trace, "explain lists every rule"
    assert [t.index for t in explained.trace] == list(range(compiled.rule_count))
    for field in Decision.__dataclass_fields__:
        if field != "trace":
            assert getattr(explained, field) == getattr(fast, field), field
    assert [t.index for t in explained.trace if t.matched] == list(fast.matched_rules)
    by_name = {t.name: t for t in explained.trace}
    for line in case["expect"].get("trace", []):
        trace = by_name[line["rule"]]
        assert trace.matched is line["matched"], trace
        assert line["reason"] in trace.reason, trace.reason
