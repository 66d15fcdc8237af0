"""`omnihub route`: the dry run an operator types, against the shipped example."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from omnihub.hub.cli import main

from .conftest import DATA, REPO

EXAMPLE = str(REPO / "config" / "examples" / "routing.yaml")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["route", *args])
    return result.exit_code, result.output


def test_explain_from_the_issue() -> None:
    code, out = run("--explain", "--channel", "sms", "--text", "我要退款", "--tag", "vip",
                    "--at", "2026-12-24T22:00+08:00", "--routing", EXAMPLE)
    assert code == 0, out
    lines = out.splitlines()
    assert "category    after-sales" in lines
    assert "group       after-sales (calendar shop)" in lines
    assert "priority    65" in lines  # sms 40 + vip 20 + refund 5
    assert "off hours   yes; kept as a left message until 2026-12-25 09:00 Fri CST" in lines
    assert "due         first response  2026-12-25 09:30 Fri CST" in lines
    assert any(line.startswith("agent       li.na (Li Na)") for line in lines)
    assert any(line.split()[:3] == ["MATCH", "rules.0", "vip-boost"] for line in lines)
    refund = next(line for line in lines if "refund " in line and "rules.4" in line)
    assert refund.split()[0] == "MATCH" and "text contains 退款" in refund
    complaint = next(line for line in lines if "rules.3" in line)
    assert complaint.split()[0] == "skip" and "text contains none of" in complaint
    assert "not evaluated: 'refund' matched and stopped" in out


def test_call_with_attribute_and_local_time() -> None:
    code, out = run("--channel", "voice", "--kind", "call", "--attr", "lifetime_orders=25",
                    "--at", "2026-03-02T10:00", "--routing", EXAMPLE)
    assert code == 0, out
    assert "priority    100" in out.splitlines()
    assert "first response  2026-03-02 10:00:30 Mon CST" in out
    assert "matched     big-spender, phone-call" in out


def test_bad_inputs_are_clear_errors() -> None:
    code, out = run("--channel", "sms", "--at", "tomorrow", "--routing", EXAMPLE)
    assert code == 2 and "ISO 8601" in out
    code, out = run("--channel", "sms", "--attr", "vip", "--routing", EXAMPLE)
    assert code == 2 and "KEY=VALUE" in out
    code, out = run("--channel", "sms", "--kind", "fax", "--routing", EXAMPLE)
    assert code == 2 and "unknown kind 'fax'" in out


def test_invalid_routing_file_exits_1_with_located_errors() -> None:
    bad = DATA / "invalid" / "unknown_group_in_rule.yaml"
    code, out = run("--channel", "sms", "--routing", str(bad))
    assert code == 1
    assert f"{bad}:11:" in out and "rules.1.then.group" in out


def test_default_routing_is_the_example(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(REPO)
    hub = tmp_path / "hub.yaml"
    hub.write_text("", encoding="utf-8")
    code, out = run("--channel", "email", "--text", "where is my parcel", "--at", "2026-03-02T10:00",
                    "--config", str(hub))
    assert code == 0, out
    assert "routing     config/examples/routing.yaml" in out
    assert "group       logistics (calendar shop)" in out


def test_routing_named_in_hub_yaml_is_used(tmp_path: Path) -> None:
    hub = tmp_path / "hub.yaml"
    routing = DATA / "routing" / "night.yaml"
    hub.write_text(f"routing: {routing}\n", encoding="utf-8")
    code, out = run("--channel", "sms", "--text", "night", "--at", "2026-03-02T20:00+08:00",
                    "--config", str(hub))
    assert code == 0, out
    assert f"routing     {routing}" in out
    assert "group       night-desk (calendar night)" in out
