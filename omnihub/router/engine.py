"""The routing engine: a RoutingConfig compiled once, then `route()` per inbound message.

Compiling does the expensive work up front: calendars, groups, one Aho-Corasick
automaton over every keyword and every literal a rule's regexes require, and for each
literal the rules it may wake up. Routing a message scans its text once and evaluates
only those rules plus the rules that have no text condition, in rule order; `explain`
evaluates every rule to say why each matched or not, and must decide the same.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from omnihub.router.assign import Group
from omnihub.router.calendar import ALWAYS_OPEN, BusinessCalendar, add_business_time, is_open, next_opening
from omnihub.router.checks import REGEX_FLAGS
from omnihub.router.conditions import (
    Condition, Context, attributes_condition, channel_condition, channel_id_condition,
    hours_condition, keywords_condition, kind_condition, language_condition, regex_condition,
    tags_condition,
)
from omnihub.router.config import (
    SLA_METRICS, ChannelConfig, EscalationStep, RoutingConfig, RuleConfig, Then,
)
from omnihub.router.decision import Decision, RouteInput, RuleTrace
from omnihub.router.textindex import LiteralIndex, fold, required_literals

OPENS_AT = "{opens_at}"  # placeholder in off-hours replies: the next opening, local time
_NO_CHANNEL = ChannelConfig()


@dataclass(frozen=True, slots=True)
class CompiledRule:
    index: int
    name: str
    conditions: tuple[Condition, ...]
    then: Then


class CompiledRouter:
    """An immutable, compiled routing.yaml; safe to share and to swap on reload."""

    def __init__(self, config: RoutingConfig) -> None:
        self.config = config
        self.calendars = {
            name: BusinessCalendar.from_config(name, calendar, config.timezone)
            for name, calendar in config.calendars.items()
        }
        self.default_calendar = (
            self.calendars[config.default_calendar] if config.default_calendar else ALWAYS_OPEN
        )
        self.groups = {
            name: Group(name, tuple(config.members(name)), group.strategy, group.capacity,
                        self.calendars[group.calendar] if group.calendar else self.default_calendar)
            for name, group in config.groups.items()
        }
        self.escalation: tuple[EscalationStep, ...] = tuple(config.escalation)
        self._index = LiteralIndex(_all_literals(config.rules))
        self._rules: list[CompiledRule] = []
        self._always: list[int] = []
        self._woken_by: dict[int, list[int]] = defaultdict(list)
        for index, rule in enumerate(config.rules):
            self._rules.append(self._compile_rule(index, rule))
            triggers = self._triggers(rule)
            if triggers is None:
                self._always.append(index)
            for literal_id in triggers or ():
                self._woken_by[literal_id].append(index)
        self._always_set = frozenset(self._always)

    # ---------------------------------------------------------------- compile

    def _compile_rule(self, index: int, rule: RuleConfig) -> CompiledRule:
        when, conditions = rule.when, []
        if when.channel:
            conditions.append(channel_condition(when.channel))
        if when.channel_id:
            conditions.append(channel_id_condition(when.channel_id))
        if when.kind:
            conditions.append(kind_condition(list(when.kind)))
        if when.language:
            conditions.append(language_condition(when.language))
        if when.tags:
            conditions.append(tags_condition(when.tags.any, when.tags.all, when.tags.none))
        if when.attributes:
            conditions.append(attributes_condition(when.attributes))
        if when.hours:
            calendar = self.calendars[when.calendar] if when.calendar else self.default_calendar
            conditions.append(hours_condition(when.hours, calendar))
        if when.text and (when.text.any or when.text.all):
            conditions.append(keywords_condition(
                {self._index.id_of(w): w for w in when.text.any},
                {self._index.id_of(w): w for w in when.text.all},
            ))
        if when.regex:
            conditions.append(regex_condition([(p, re.compile(p, REGEX_FLAGS)) for p in when.regex]))
        name = rule.name or f"rule {index + 1}"
        return CompiledRule(index, name, tuple(conditions), rule.then)

    def _triggers(self, rule: RuleConfig) -> list[int] | None:
        """Literal ids of which at least one must occur for the rule to match; None: no such set."""
        when = rule.when
        if when.text and when.text.all:
            return [self._index.id_of(max(when.text.all, key=len))]
        if when.text and when.text.any:
            return [self._index.id_of(w) for w in when.text.any]
        if when.regex:
            required = [required_literals(p, REGEX_FLAGS) for p in when.regex]
            if all(r is not None for r in required):
                return [self._index.id_of(lit) for r in required for lit in r or ()]
        return None

    # ---------------------------------------------------------------- route

    def route(self, message: RouteInput, *, now: datetime, explain: bool = False) -> Decision:
        """Decide category, group, priority, deadlines and replies for one inbound message."""
        now = _aware_utc(now)
        ctx = Context(message, now, self._index.hits(fold(message.text)))
        if explain:
            matched, trace = self._evaluate_all(ctx)
        else:
            matched, trace = self._evaluate_candidates(ctx), ()
        return self._decide(message, now, matched, trace)

    def _candidates(self, hits: set[int]) -> list[int]:
        if not hits:
            return self._always
        woken = set(self._always_set)
        for literal_id in hits:
            woken.update(self._woken_by.get(literal_id, ()))
        return sorted(woken)

    def _evaluate_candidates(self, ctx: Context) -> list[CompiledRule]:
        matched = []
        for index in self._candidates(ctx.hits):
            rule = self._rules[index]
            if all(condition.test(ctx) is None for condition in rule.conditions):
                matched.append(rule)
                if rule.then.stop:
                    break
        return matched

    def _evaluate_all(self, ctx: Context) -> tuple[list[CompiledRule], tuple[RuleTrace, ...]]:
        matched: list[CompiledRule] = []
        trace = []
        stopped_by: CompiledRule | None = None
        for rule in self._rules:
            if stopped_by is not None:
                trace.append(RuleTrace(rule.index, rule.name, False,
                                       f"not evaluated: {stopped_by.name!r} matched and stopped"))
                continue
            failure = next((r for c in rule.conditions if (r := c.test(ctx)) is not None), None)
            if failure is not None:
                trace.append(RuleTrace(rule.index, rule.name, False, failure))
                continue
            held = "; ".join(c.holds(ctx) for c in rule.conditions) or "no conditions"
            trace.append(RuleTrace(rule.index, rule.name, True, held))
            matched.append(rule)
            if rule.then.stop:
                stopped_by = rule
        return matched, tuple(trace)

    def _decide(self, message: RouteInput, now: datetime, matched: list[CompiledRule],
                trace: tuple[RuleTrace, ...]) -> Decision:
        channel = self.channel(message.channel_type)
        category = group = auto_reply = None
        priority, tags = channel.priority, []
        for rule in matched:
            then = rule.then
            category = then.category or category
            group = then.group or group
            auto_reply = then.auto_reply or auto_reply
            if then.priority is not None:
                priority = then.priority.apply(priority)
            tags.extend(t for t in then.tags if t not in tags)
        calendar = self.calendar_for(group)
        off_hours = not is_open(calendar, now)
        off = self.config.off_hours
        opens = next_opening(calendar, now) if off_hours else None
        if off_hours and auto_reply is None and off.auto_reply:
            auto_reply = off.auto_reply.replace(OPENS_AT, _local(opens, calendar))
        sla_calendar = calendar if off.pause_clock else ALWAYS_OPEN
        due = {
            metric: (None if (target := channel.target(metric)) is None
                     else add_business_time(sla_calendar, now, target))
            for metric in SLA_METRICS
        }
        return Decision(
            category=category, group=group, priority=priority, tags=tuple(tags),
            auto_reply=auto_reply, off_hours=off_hours,
            hold_until=opens if off.leave_message else None, calendar=calendar.name,
            first_response_due=due["first_response"], next_response_due=due["next_response"],
            resolution_due=due["resolution"], matched_rules=tuple(r.index for r in matched),
            trace=trace,
        )

    # ---------------------------------------------------------------- lookups for the SLA side

    def channel(self, channel_type: str) -> ChannelConfig:
        """A channel type's priority and targets; `default` covers types not listed."""
        channels = self.config.channels
        return channels.get(channel_type) or channels.get("default") or _NO_CHANNEL

    def calendar_for(self, group: str | None) -> BusinessCalendar:
        """The hours a group keeps: its own calendar, else default_calendar, else always open."""
        found = self.groups.get(group) if group else None
        return found.calendar if found else self.default_calendar

    def sla_calendar(self, group: str | None) -> BusinessCalendar:
        """The calendar SLA clocks of a group run on (always open when clocks never pause)."""
        return self.calendar_for(group) if self.config.off_hours.pause_clock else ALWAYS_OPEN

    def due_time(self, *, group: str | None, channel_type: str, metric: str,
                 start: datetime) -> datetime | None:
        """A deadline restarted at `start` (e.g. the next-response clock on a new customer message)."""
        target = self.channel(channel_type).target(metric)
        if target is None:
            return None
        return add_business_time(self.sla_calendar(group), start, target)

    def rule_name(self, index: int) -> str:
        return self._rules[index].name

    @property
    def rule_count(self) -> int:
        return len(self._rules)

    @property
    def literal_count(self) -> int:
        return len(self._index)


def compile_router(config: RoutingConfig) -> CompiledRouter:
    """Compile a validated RoutingConfig (see `load_routing`)."""
    return CompiledRouter(config)


def _all_literals(rules: list[RuleConfig]) -> list[str]:
    literals: list[str] = []
    for rule in rules:
        if rule.when.text:
            literals += rule.when.text.any + rule.when.text.all
        for pattern in rule.when.regex:
            literals += sorted(required_literals(pattern, REGEX_FLAGS) or ())
    return literals


def _aware_utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"route() needs an aware datetime, got naive {at.isoformat()}")
    return at.astimezone(UTC)


def _local(at: datetime | None, calendar: BusinessCalendar) -> str:
    if at is None:
        return ""
    return at.astimezone(calendar.zone or UTC).strftime("%Y-%m-%d %H:%M")
