"""Tag rules: what each condition counts, on a clock the test sets, and located errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from omnihub.hub.yamlconfig import ConfigError
from omnihub.profiles.overlap import rank_by_overlap, words
from omnihub.profiles.rules import (
    ConversationFact,
    CustomerFacts,
    OrderFact,
    evaluate,
    load_tag_rules,
)

RULES = load_tag_rules(Path(__file__).parent / "customer_tags.yaml")
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def order(days_ago: float, total: str, status: str = "paid", currency: str = "CNY"
          ) -> OrderFact:
    return OrderFact(NOW - days_ago * DAY, status, currency, Decimal(total))


def test_vip_needs_spend_above_the_threshold_within_the_window() -> None:
    facts = CustomerFacts(first_seen=NOW - 900 * DAY,
                          orders=[order(10, "3000"), order(300, "2000.01"),
                                  order(400, "9000"), order(5, "9000", "cancelled"),
                                  order(5, "9000", currency="USD")])
    result = evaluate(RULES, facts, NOW)
    assert result.tags == ["vip"]
    assert result.facts["vip"]["spend"]["total"] == "5000.01"
    # the order of 300 days ago leaves the window first: that is when to look again
    assert result.recheck_at == NOW - 300 * DAY + 365 * DAY


def test_exactly_the_threshold_is_not_above_it() -> None:
    facts = CustomerFacts(first_seen=NOW - 900 * DAY, orders=[order(1, "5000")])
    assert "vip" not in evaluate(RULES, facts, NOW).tags


def test_vip_expires_when_the_clock_passes_the_recheck_time() -> None:
    facts = CustomerFacts(first_seen=NOW - 900 * DAY, orders=[order(200, "6000")])
    first = evaluate(RULES, facts, NOW)
    assert first.tags == ["vip"] and first.recheck_at is not None
    assert evaluate(RULES, facts, first.recheck_at - timedelta(seconds=1)).tags == ["vip"]
    assert evaluate(RULES, facts, first.recheck_at).tags == []


def test_frequent_returner_counts_returned_and_refunded_orders() -> None:
    two = [order(10, "1", "returned"), order(20, "1", "Refunded"), order(30, "1", "paid")]
    facts = CustomerFacts(first_seen=NOW - 900 * DAY, orders=two)
    assert evaluate(RULES, facts, NOW).tags == []
    three = [*two, order(170, "1", "returned")]
    facts = CustomerFacts(first_seen=NOW - 900 * DAY, orders=three)
    assert evaluate(RULES, facts, NOW).tags == ["frequent_returner"]
    assert evaluate(RULES, facts, NOW + 11 * DAY).tags == []


def test_new_customer_for_thirty_days_after_first_seen() -> None:
    facts = CustomerFacts(first_seen=NOW - 29 * DAY)
    result = evaluate(RULES, facts, NOW)
    assert result.tags == ["new_customer"]
    assert result.recheck_at == NOW + DAY
    assert evaluate(RULES, facts, NOW + DAY).tags == []


def test_complained_recently_looks_at_conversation_categories() -> None:
    convs = [ConversationFact(NOW - 3 * DAY, "inquiry", "sales"),
             ConversationFact(NOW - 40 * DAY, "complaint", "support")]
    facts = CustomerFacts(first_seen=NOW - 900 * DAY, conversations=convs)
    assert evaluate(RULES, facts, NOW).tags == []
    convs.append(ConversationFact(NOW - 2 * DAY, "Complaint", None))
    assert evaluate(RULES, facts, NOW).tags == ["complained_recently"]


def test_a_bad_rule_is_located_by_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "customer_tags.yaml"
    path.write_text("tags:\n  - tag: vip\n    spend: {currency: CNY, over: 10, within: 10}\n"
                    "  - tag: empty\n")
    with pytest.raises(ConfigError) as caught:
        load_tag_rules(path)
    text = str(caught.value)
    assert "customer_tags.yaml:3" in text and "within" in text
    assert "customer_tags.yaml:4" in text and "at least one of" in text


def test_a_tag_may_have_one_rule(tmp_path: Path) -> None:
    path = tmp_path / "customer_tags.yaml"
    path.write_text("tags:\n  - {tag: a, customer_since: {within: 1d}}\n"
                    "  - {tag: a, customer_since: {within: 2d}}\n")
    with pytest.raises(ConfigError, match="two rules"):
        load_tag_rules(path)


def test_words_split_chinese_into_pairs_and_drop_function_words() -> None:
    assert words("How do I get my refund?") == {"get", "refund"}
    assert words("退款多久到账") == {"退款", "款多", "多久", "久到", "到账"}


def test_canned_replies_rank_by_shared_words() -> None:
    replies = ["Shipping takes 3 days", "Your refund reaches your card in 5 days",
               "退款3-5个工作日到账", "Hello!"]
    ranked = rank_by_overlap("when does my refund reach my card", replies, str)
    assert [r for r, _ in ranked] == ["Your refund reaches your card in 5 days"]
    assert [r for r, _ in rank_by_overlap("退款什么时候到账", replies, str)] == [
        "退款3-5个工作日到账"]
    assert rank_by_overlap("?", replies, str) == []


def test_check_config_checks_the_tag_rules_hub_yaml_names(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from omnihub.hub.cli import main

    rules = tmp_path / "customer_tags.yaml"
    rules.write_text("tags:\n  - tag: vip\n    spend: {currency: cny, over: 1, within: 1d}\n")
    hub = tmp_path / "hub.yaml"
    hub.write_text(json.dumps({"data_dir": str(tmp_path / "data"),
                               "profiles": {"tag_rules": str(rules)}}))
    result = CliRunner().invoke(main, ["check-config", "--config", str(hub)])
    assert result.exit_code == 1
    assert f"OK {hub}" in result.output and f"{rules}:3" in result.output
    rules.write_text("tags:\n  - tag: vip\n    spend: {currency: CNY, over: 1, within: 1d}\n")
    result = CliRunner().invoke(main, ["check-config", "--config", str(hub)])
    assert result.exit_code == 0 and f"OK {rules}" in result.output
