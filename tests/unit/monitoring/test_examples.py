"""The Prometheus rules and the Grafana dashboard shipped in config/examples/ parse and
use only metric names the hub exports, and the example hub.yaml's rules load."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ruamel.yaml import YAML

from omnihub.hub.monitoring.catalog import exported_series
from omnihub.hub.settings import load_hub_settings

EXAMPLES = Path(__file__).parents[3] / "config" / "examples"
METRIC = re.compile(r"\bomnihub_[a-z0-9_]+")
MONITORED = {
    "omnihub_ingest", "omnihub_ingest_latency_seconds", "omnihub_outbound",
    "omnihub_provider_errors", "omnihub_outbox_depth", "omnihub_outbox_oldest_age_seconds",
    "omnihub_dead_letters", "omnihub_webhook_delivery_seconds",
    "omnihub_webhook_delivery_failures", "omnihub_sla_breaches", "omnihub_conversations_open",
    "omnihub_conversations_unassigned", "omnihub_conversations_overdue",
    "omnihub_http_request_duration_seconds", "omnihub_imap_poll_lag_seconds",
    "omnihub_store_ping_seconds", "omnihub_redis_ping_seconds", "omnihub_alerts_firing",
}


def names_in(expressions: list[str]) -> set[str]:
    return {name for expr in expressions for name in METRIC.findall(expr)}


def test_prometheus_rules_parse_and_use_exported_metrics() -> None:
    document = YAML(typ="safe").load((EXAMPLES / "prometheus-alerts.yaml").read_text())
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    assert len(rules) >= 10
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", rule["alert"])
        assert isinstance(rule["expr"], str) and rule["expr"].count("(") == rule["expr"].count(")")
        if "for" in rule:
            assert re.fullmatch(r"\d+[smhd]", rule["for"])
    used = names_in([rule["expr"] for rule in rules])
    assert used and used <= exported_series(), used - exported_series()
    # the conditions the hub.yaml example has: dead letters, overdue, p99, poll lag
    assert {"omnihub_dead_letters", "omnihub_conversations_overdue",
            "omnihub_ingest_latency_seconds_bucket", "omnihub_imap_poll_lag_seconds"} <= used


def test_grafana_dashboard_parses_and_uses_exported_metrics() -> None:
    dashboard = json.loads((EXAMPLES / "grafana-dashboard.json").read_text())
    assert dashboard["title"] and dashboard["uid"] and dashboard["schemaVersion"] >= 30
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    expressions = [t["expr"] for p in panels for t in p["targets"]]
    expressions += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    used = names_in(expressions)
    assert used <= exported_series(), used - exported_series()
    # the monitoring figures are all on it
    shown = {re.sub(r"_(bucket|sum|count|total|created)$", "", name) for name in used}
    assert MONITORED <= shown, MONITORED - shown


def test_the_example_hub_yaml_has_working_alert_rules() -> None:
    alerts = load_hub_settings(EXAMPLES / "hub.yaml").alerts
    assert {rule.name for rule in alerts.rules} >= {"dead_letters", "after_sales_overdue",
                                                    "slow_ingest", "email_poll_lag"}
