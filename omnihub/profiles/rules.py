"""Tag rules (customer_tags.yaml): which tags a customer's orders and conversations earn.

A rule names a tag and one or more conditions, all of which must hold. Every condition
counts facts inside a time window that ends now (`within: 365d`), so a tag can only
*expire* as time passes, never appear: `evaluate` returns, beside the tags, the moment
the first counted fact leaves its window, and the hub recomputes the customer then.

    tags:
      - tag: vip
        spend: {currency: CNY, over: 5000, within: 365d}
      - tag: frequent_returner
        orders: {status: [returned, refunded], at_least: 3, within: 180d}
      - tag: new_customer
        customer_since: {within: 30d}
      - tag: complained_recently
        conversations: {category: [complaint], at_least: 1, within: 30d}
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StringConstraints, model_validator

from omnihub.hub.yamlconfig import load_yaml_model
from omnihub.router.durations import Duration, format_duration

__all__ = ["ConversationFact", "CustomerFacts", "Evaluation", "OrderFact", "TagRule",
           "TagRules", "evaluate", "load_tag_rules"]

TagName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
Word = Annotated[str, StringConstraints(min_length=1, max_length=64)]
#: statuses that are not a purchase: left out of `spend` unless a rule lists its own
NOT_SPENT = ("cancelled", "canceled", "refunded", "returned")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Spend(_Strict):
    """The sum of order totals in one currency within the window is above `over`."""

    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    over: Decimal = Field(ge=0)
    within: Duration
    #: count only these statuses (default: every status but cancelled/refunded/returned)
    status: list[Word] | None = None


class OrderCount(_Strict):
    """At least `at_least` orders (of these statuses, when given) within the window."""

    at_least: int = Field(ge=1)
    within: Duration
    status: list[Word] | None = None


class CustomerSince(_Strict):
    """The customer first appeared (first message or first order) within the window."""

    within: Duration


class ConversationCount(_Strict):
    """At least `at_least` conversations opened within the window, of these categories
    and/or groups when given."""

    at_least: int = Field(ge=1)
    within: Duration
    category: list[Word] | None = None
    group: list[Word] | None = None


class TagRule(_Strict):
    tag: TagName
    spend: Spend | None = None
    orders: OrderCount | None = None
    customer_since: CustomerSince | None = None
    conversations: ConversationCount | None = None

    @model_validator(mode="after")
    def _has_condition(self) -> TagRule:
        if not any((self.spend, self.orders, self.customer_since, self.conversations)):
            raise ValueError("a rule needs at least one of spend, orders, customer_since, "
                             "conversations")
        return self


class TagRules(_Strict):
    tags: list[TagRule] = Field(default_factory=list)
    _sha256: str | None = PrivateAttr(default=None)

    @property
    def sha256(self) -> str | None:
        """The file's hash: a profile computed under other rules is recomputed."""
        return self._sha256

    @model_validator(mode="after")
    def _unique(self) -> TagRules:
        seen: set[str] = set()
        for rule in self.tags:
            if rule.tag in seen:
                raise ValueError(f"tag {rule.tag!r} has two rules; give it one")
            seen.add(rule.tag)
        return self

    def longest_window(self) -> timedelta | None:
        """How far back any rule looks: facts older than this never matter."""
        windows = [c.within for r in self.tags
                   for c in (r.spend, r.orders, r.customer_since, r.conversations) if c]
        return max(windows, default=None)


def load_tag_rules(path: Path | str) -> TagRules:
    """Load customer_tags.yaml; ConfigError with file:line and key for every problem."""
    rules = load_yaml_model(path, TagRules)
    rules._sha256 = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return rules


# ------------------------------------------------------------------ the facts, evaluated


@dataclass(frozen=True, slots=True)
class OrderFact:
    placed_at: datetime
    status: str
    currency: str
    total: Decimal


@dataclass(frozen=True, slots=True)
class ConversationFact:
    created_at: datetime
    category: str | None
    group: str | None


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    first_seen: datetime
    orders: Sequence[OrderFact] = ()
    conversations: Sequence[ConversationFact] = ()


@dataclass(slots=True)
class Evaluation:
    """The derived tags, the figures behind them, and when time alone may change them."""

    tags: list[str]
    facts: dict[str, Any] = field(default_factory=dict)
    recheck_at: datetime | None = None

    def _expiry(self, at: datetime) -> None:
        if self.recheck_at is None or at < self.recheck_at:
            self.recheck_at = at


def _fold(values: list[str] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(v.casefold() for v in values)


def evaluate(rules: TagRules, facts: CustomerFacts, now: datetime) -> Evaluation:
    """Apply every rule to one customer's facts at `now` (pure: the clock is a parameter)."""
    result = Evaluation(tags=[])
    for rule in rules.tags:
        figures: dict[str, Any] = {}
        held = True
        if rule.spend is not None:
            held &= _spend(rule.spend, facts, now, figures, result)
        if rule.orders is not None:
            held &= _order_count(rule.orders, facts, now, figures, result)
        if rule.customer_since is not None:
            since = facts.first_seen + rule.customer_since.within
            figures["first_seen"] = facts.first_seen.isoformat()
            if since > now:
                result._expiry(since)
            else:
                held = False
        if rule.conversations is not None:
            held &= _conversation_count(rule.conversations, facts, now, figures, result)
        figures["held"] = held
        result.facts[rule.tag] = figures
        if held:
            result.tags.append(rule.tag)
    return result


def _in_window(at: datetime, within: timedelta, now: datetime) -> bool:
    return now - within < at <= now


def _leaves(times: list[datetime], within: timedelta, result: Evaluation) -> None:
    """The first of these facts to leave the window is when the rule may change."""
    if times:
        result._expiry(min(times) + within)


def _spend(cond: Spend, facts: CustomerFacts, now: datetime, figures: dict[str, Any],
           result: Evaluation) -> bool:
    wanted = _fold(cond.status)
    counted = [o for o in facts.orders
               if o.currency == cond.currency and _in_window(o.placed_at, cond.within, now)
               and (o.status.casefold() in wanted if wanted is not None
                    else o.status.casefold() not in NOT_SPENT)]
    total = sum((o.total for o in counted), Decimal(0))
    figures["spend"] = {"currency": cond.currency, "total": str(total),
                        "within": format_duration(cond.within)}
    _leaves([o.placed_at for o in counted], cond.within, result)
    return total > cond.over


def _order_count(cond: OrderCount, facts: CustomerFacts, now: datetime,
                 figures: dict[str, Any], result: Evaluation) -> bool:
    wanted = _fold(cond.status)
    counted = [o.placed_at for o in facts.orders
               if _in_window(o.placed_at, cond.within, now)
               and (wanted is None or o.status.casefold() in wanted)]
    figures["orders"] = len(counted)
    _leaves(counted, cond.within, result)
    return len(counted) >= cond.at_least


def _conversation_count(cond: ConversationCount, facts: CustomerFacts, now: datetime,
                        figures: dict[str, Any], result: Evaluation) -> bool:
    categories, groups = _fold(cond.category), _fold(cond.group)
    counted = [c.created_at for c in facts.conversations
               if _in_window(c.created_at, cond.within, now)
               and (categories is None or (c.category or "").casefold() in categories)
               and (groups is None or (c.group or "").casefold() in groups)]
    figures["conversations"] = len(counted)
    _leaves(counted, cond.within, result)
    return len(counted) >= cond.at_least
