"""`alerts:` in hub.yaml: a small schema, checked against what the hub exports, with
every mistake located at its key like the rest of hub.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnihub.hub.monitoring.settings import AlertRule, parse_seconds
from omnihub.hub.settings import load_hub_settings
from omnihub.hub.yamlconfig import ConfigError, LocatedError

GOOD = """\
alerts:
  evaluate_seconds: 30s
  rules:
    - name: overdue
      metric: omnihub_conversations_overdue
      labels: {group: after-sales}
      op: ">"
      threshold: 10
      for: 5m
    - name: p99
      metric: omnihub_ingest_latency_seconds
      quantile: 0.99
      window: 5m
      op: ">"
      threshold: 500ms
  notify:
    webhooks: [{url: "https://ops.example/hook", secret: "0123456789abcdef"}]
    email:
      from: omnihub@shop.example
      to: [ops@shop.example]
      smtp: {host: smtp.shop.example}
"""


def errors_in(tmp_path: Path, text: str) -> list[LocatedError]:
    path = tmp_path / "hub.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_hub_settings(path)
    return caught.value.errors


def test_a_good_section_loads(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(GOOD)
    alerts = load_hub_settings(path).alerts
    assert alerts.evaluate_seconds == 30
    overdue, p99 = alerts.rules
    assert (overdue.for_, overdue.threshold, overdue.labels) == (300, 10, {"group": "after-sales"})
    assert (p99.quantile, p99.window, p99.threshold) == (0.99, 300, 0.5)
    assert alerts.notify.email is not None and alerts.notify.email.smtp.port == 587
    assert overdue.describe() == 'omnihub_conversations_overdue{group="after-sales"} > 10 for 300s'


@pytest.mark.parametrize(("line", "replacement", "at", "message"), [
    ("      metric: omnihub_conversations_overdue", "      metric: omnihub_overdue",
     (5, 7, "alerts.rules.0.metric"), "exports no metric 'omnihub_overdue'"),
    ("      labels: {group: after-sales}", "      labels: {team: after-sales}",
     (6, 7, "alerts.rules.0.labels"), "has no label team"),
    ("      for: 5m", "      for: five minutes",
     (9, 7, "alerts.rules.0.for"), "a duration like"),
    ("      op: \">\"\n      threshold: 500ms", "      op: \"=>\"\n      threshold: 500ms",
     (14, 7, "alerts.rules.1.op"), "'>'"),
    ("      quantile: 0.99\n", "",
     (10, 7, "alerts.rules.1"), "give `quantile`"),
    ("      to: [ops@shop.example]", "      to: [ops]",
     (20, 12, "alerts.notify.email.to.0"), "not an e-mail address"),
    ("    - name: p99", "    - name: overdue",
     (3, 3, "alerts.rules"), "two rules are named 'overdue'"),
])
def test_mistakes_are_located(tmp_path: Path, line: str, replacement: str,
                              at: tuple[int, int, str], message: str) -> None:
    assert line in GOOD
    errors = errors_in(tmp_path, GOOD.replace(line, replacement, 1))
    assert len(errors) == 1, errors
    (error,) = errors
    assert (error.line, error.column, error.key_path) == at
    assert message in error.message


def test_an_unknown_key_is_named(tmp_path: Path) -> None:
    (error,) = errors_in(tmp_path, GOOD.replace("      for: 5m", "      fro: 5m"))
    assert error.key_path == "alerts.rules.0.fro"


def test_counters_go_by_either_name() -> None:
    for name in ("omnihub_outbound_total", "omnihub_outbound"):
        rule = AlertRule.model_validate({"name": "x", "metric": name, "window": "10m",
                                         "op": ">", "threshold": 1})
        assert rule.metric == "omnihub_outbound_total"


def test_a_gauge_has_no_window_and_a_counter_no_quantile() -> None:
    with pytest.raises(ValueError, match="needs a counter or histogram"):
        AlertRule.model_validate({"name": "x", "metric": "omnihub_dead_letters",
                                  "window": "5m", "op": ">", "threshold": 0})
    with pytest.raises(ValueError, match="needs a histogram"):
        AlertRule.model_validate({"name": "x", "metric": "omnihub_outbound_total",
                                  "quantile": 0.5, "window": "5m", "op": ">", "threshold": 0})


@pytest.mark.parametrize(("text", "seconds"), [
    ("500ms", 0.5), ("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400), (10, 10),
    ("0.25", 0.25),
])
def test_quantities(text: str | int, seconds: float) -> None:
    assert parse_seconds(text) == seconds


@pytest.mark.parametrize("text", ["5 minutes", "", "5y", True])
def test_bad_quantities(text: object) -> None:
    with pytest.raises(ValueError):
        parse_seconds(text)
