"""Micro-benchmark of rule matching: µs per routed message against 1,000 and 10,000 rules.

Run it with `python -m omnihub.router.bench`; `omnihub bench` can report the same figures.
The message matches no rule, the worst case: every rule must be ruled out.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from typing import Any

from omnihub.router.config import RoutingConfig
from omnihub.router.decision import RouteInput
from omnihub.router.engine import CompiledRouter

_SYLLABLES = ("ka", "lo", "mi", "zu", "re", "fan", "tor", "vel", "qui", "pex", "dra", "sun")
_HANZI = "退款货物流快递发票售后维修尺码颜色库存价格优惠活动会员积分地址电话"
NO_MATCH_TEXT = (
    "Hello, I ordered a blue jacket last week and would like to know whether the "
    "size chart on the product page is right. 你好，我想问一下这件外套的面料是什么？谢谢！"
)


def _word(rng: random.Random, index: int) -> str:
    if index % 4 == 0:
        return "".join(rng.choice(_HANZI) for _ in range(3))
    return "".join(rng.choice(_SYLLABLES) for _ in range(3)) + str(index)


def synthetic_config(n_rules: int, *, seed: int = 7) -> RoutingConfig:
    """n rules, two thirds keyword rules (English and Chinese), one third regex rules."""
    rng = random.Random(seed)
    rules: list[dict[str, Any]] = []
    for index in range(n_rules):
        group = f"g{index % 10}"
        if index % 3 == 2:
            stem = _word(rng, index + 1)
            when: dict[str, Any] = {"regex": rf"(?:{stem}|ticket-{index})\s*#?\d{{4,}}"}
        else:
            when = {"text": [_word(rng, index * 3 + k) for k in range(3)]}
        if index % 5 == 0:
            when["channel"] = ["sms", "email"]
        rules.append({"name": f"r{index}", "when": when,
                      "then": {"group": group, "priority": "+1", "category": group}})
    return RoutingConfig.model_validate({
        "channels": {"sms": {"priority": 40, "first_response": "30m", "resolution": "2d"}},
        "groups": {f"g{i}": {"agents": [f"a{i}"]} for i in range(10)},
        "agents": [{"id": f"a{i}"} for i in range(10)],
        "rules": rules,
    })


def _us_per_route(router: CompiledRouter, message: RouteInput, iterations: int, *, explain: bool) -> float:
    """Best of five rounds (as timeit advises): the others measure the machine's other load."""
    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    for _ in range(min(iterations, 200)):  # warm caches
        router.route(message, now=now, explain=explain)
    per_round = max(iterations // 5, 1)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter_ns()
        for _ in range(per_round):
            router.route(message, now=now, explain=explain)
        best = min(best, (time.perf_counter_ns() - started) / per_round / 1000)
    return best


def bench_routing(n_rules: int = 1000, *, iterations: int = 20_000, large: int = 10_000) -> dict[str, Any]:
    """Route a no-match message through n and `large` rules; return µs per route.

    `us_per_explain` routes with explain=True, which evaluates every rule and words a
    reason for each: the cost without the keyword index, for comparison.
    """
    message = RouteInput(channel_type="sms", text=NO_MATCH_TEXT)
    router = CompiledRouter(synthetic_config(n_rules))
    assert router.route(message, now=datetime.now(UTC)).matched_rules == ()
    result: dict[str, Any] = {
        "rules": n_rules,
        "literals": router.literal_count,
        "us_per_route": round(_us_per_route(router, message, iterations, explain=False), 2),
        "us_per_explain": round(
            _us_per_route(router, message, max(iterations // 50, 20), explain=True), 2),
    }
    if large:
        big = CompiledRouter(synthetic_config(large))
        result["rules_large"] = large
        result["us_per_route_large"] = round(_us_per_route(big, message, iterations, explain=False), 2)
    return result


if __name__ == "__main__":  # pragma: no cover
    for key, value in bench_routing().items():
        print(f"{key:<24} {value}")
