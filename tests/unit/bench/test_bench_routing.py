"""The routing benchmark's report: figures worded right, no timing asserted."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from omnihub.connectors.api.parse import parse_post
from omnihub.hub.bench import names, select
from omnihub.hub.bench.report import render
from omnihub.hub.bench.routing import routing_report, typical_post
from omnihub.hub.commands.bench import bench

FIGURES = {
    "rules": 1000, "literals": 2666, "us_per_route": 8.0, "us_per_explain": 2900.0,
    "rules_large": 10000, "us_per_route_large": 12.0,
}


def test_report_ends_with_the_per_message_figure() -> None:
    report = routing_report(FIGURES, parse=16.0)
    assert render(report)[-1] == "routing µs/message (1,000 rules): 8.00"
    assert report.ok


def test_report_states_the_scale_and_parse_ratios() -> None:
    report = routing_report(FIGURES, parse=16.0)
    assert report.figures["ratio_large_to_small"] == pytest.approx(1.5)
    assert report.figures["ratio_route_to_parse"] == pytest.approx(0.5)
    assert report.figures["us_per_parse"] == 16.0
    assert "10,000/1,000 rules ratio: 1.50" in report.lines
    assert "routing/parse ratio: 0.50" in report.lines
    assert any(line.startswith("parse_post, typical API body") and line.endswith("16.00")
               for line in report.lines)


def test_report_flags_a_missed_target() -> None:
    report = routing_report({**FIGURES, "us_per_route": 25.0}, parse=16.0)
    assert report.figures["target_met"] is False
    assert "target < 20 µs: MISSED" in report.lines


def test_report_without_the_large_run_has_no_scale_ratio() -> None:
    small = {k: v for k, v in FIGURES.items() if k not in ("rules_large", "us_per_route_large")}
    report = routing_report(small, parse=16.0)
    assert report.figures["ratio_large_to_small"] is None
    assert not any("rules ratio" in line for line in report.lines)


def test_the_typical_post_is_one_the_api_channel_accepts() -> None:
    data, raw = typical_post()
    message = parse_post("api", data, raw=raw)
    assert message.parts[0].text == data["text"]


def test_routing_is_registered_and_selectable() -> None:
    assert "routing" in names()
    assert [b.name for b in select(["routing"])] == ["routing"]


def test_bench_only_routing_prints_the_final_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("omnihub.hub.bench.routing.bench_routing", lambda *a, **k: FIGURES)
    monkeypatch.setattr("omnihub.hub.bench.routing.parse_us", lambda: 16.0)
    result = CliRunner().invoke(bench, ["--only", "routing"])
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().splitlines()[-1] == "routing µs/message (1,000 rules): 8.00"
