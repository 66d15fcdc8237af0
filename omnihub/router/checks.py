"""Checks across sections of routing.yaml that a schema alone cannot express.

Each problem carries the key path of the offending value so that the loader can point
the operator at its line: a rule naming a group that does not exist, an agent in no
group, a calendar that is never open, a rule that can never be reached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from omnihub.router.calendar import BusinessCalendar
from omnihub.router.conditions import attribute_predicate
from omnihub.router.config import RoutingConfig

KeyPath = tuple[str | int, ...]
REGEX_FLAGS = re.IGNORECASE


@dataclass(frozen=True)
class Problem:
    """One semantic error: where it is (a key path) and what is wrong."""

    path: KeyPath
    message: str


def _unknown(what: str, name: str, known: list[str]) -> str:
    listed = ", ".join(sorted(known)) or "none defined"
    return f"unknown {what} {name!r} (known: {listed})"


def check_routing(config: RoutingConfig) -> list[Problem]:
    """Every cross-reference problem of a routing config, in file order."""
    problems: list[Problem] = []
    problems += _check_calendars(config)
    problems += _check_groups(config)
    problems += _check_agents(config)
    problems += _check_rules(config)
    problems += _check_escalation(config)
    return problems


def _check_calendars(config: RoutingConfig) -> list[Problem]:
    problems = []
    names = list(config.calendars)
    if config.default_calendar is not None and config.default_calendar not in config.calendars:
        problems.append(Problem(
            ("default_calendar",), _unknown("calendar", config.default_calendar, names)))
    for name, calendar in config.calendars.items():
        compiled = BusinessCalendar.from_config(name, calendar, config.timezone)
        if compiled.never_open():
            problems.append(Problem(
                ("calendars", name),
                f"calendar {name!r} is never open: give at least one weekday some hours, "
                "e.g. mon: ['09:00-18:00']",
            ))
    return problems


def _check_groups(config: RoutingConfig) -> list[Problem]:
    problems = []
    agent_ids = [a.id for a in config.agents]
    for name, group in config.groups.items():
        if group.calendar is not None and group.calendar not in config.calendars:
            problems.append(Problem(
                ("groups", name, "calendar"),
                _unknown("calendar", group.calendar, list(config.calendars)),
            ))
        for index, agent in enumerate(group.agents):
            if agent not in agent_ids:
                problems.append(Problem(
                    ("groups", name, "agents", index),
                    f"group {name!r} names unknown agent {agent!r}; add it under agents:",
                ))
    return problems


def _check_agents(config: RoutingConfig) -> list[Problem]:
    problems = []
    seen: set[str] = set()
    for index, agent in enumerate(config.agents):
        if agent.id in seen:
            problems.append(Problem(("agents", index, "id"), f"duplicate agent id {agent.id!r}"))
        seen.add(agent.id)
        for position, group in enumerate(agent.groups):
            if group not in config.groups:
                problems.append(Problem(
                    ("agents", index, "groups", position),
                    _unknown("group", group, list(config.groups)),
                ))
        in_some_group = any(agent.id in g.agents for g in config.groups.values()) or any(
            g in config.groups for g in agent.groups
        )
        if not in_some_group:
            problems.append(Problem(
                ("agents", index),
                f"agent {agent.id!r} is in no group, so no conversation can reach it; "
                "list it under a group's agents: or give it groups:",
            ))
    return problems


def _check_rules(config: RoutingConfig) -> list[Problem]:
    problems = []
    names: dict[str, int] = {}
    catch_all: int | None = None
    hours_calendar = config.default_calendar
    for index, rule in enumerate(config.rules):
        where: KeyPath = ("rules", index)
        if rule.name is not None:
            if rule.name in names:
                problems.append(Problem(
                    (*where, "name"),
                    f"duplicate rule name {rule.name!r} (also rules.{names[rule.name]})",
                ))
            names.setdefault(rule.name, index)
        if catch_all is not None:
            problems.append(Problem(
                where,
                f"{config.rule_name(index)!r} can never match: {config.rule_name(catch_all)!r} "
                f"(rules.{catch_all}) has no conditions and stops evaluation; move this rule "
                "above it or give that one 'stop: false'",
            ))
        elif rule.when.is_empty() and rule.then.stop:
            catch_all = index
        if rule.then.group is not None and rule.then.group not in config.groups:
            problems.append(Problem(
                (*where, "then", "group"), _unknown("group", rule.then.group, list(config.groups))))
        when = rule.when
        if when.calendar is not None and when.calendar not in config.calendars:
            problems.append(Problem(
                (*where, "when", "calendar"),
                _unknown("calendar", when.calendar, list(config.calendars)),
            ))
        if when.hours is not None and when.calendar is None and hours_calendar is None:
            problems.append(Problem(
                (*where, "when", "hours"),
                "an 'hours' condition needs a calendar: set 'calendar:' on the rule or "
                "'default_calendar:' at the top",
            ))
        for key, spec in when.attributes.items():
            try:
                attribute_predicate(spec)
            except ValueError as exc:
                problems.append(Problem((*where, "when", "attributes", key), str(exc)))
        for position, pattern in enumerate(when.regex):
            try:
                re.compile(pattern, REGEX_FLAGS)
            except re.error as exc:
                problems.append(Problem(
                    (*where, "when", "regex", position),
                    f"invalid regular expression '{pattern}': {exc.msg} at position {exc.pos}",
                ))
    return problems


def _check_escalation(config: RoutingConfig) -> list[Problem]:
    problems = []
    agent_ids = {a.id for a in config.agents}
    roles = {"agent", "senior", "supervisor"}
    names: set[str] = set()
    for index, step in enumerate(config.escalation):
        where: KeyPath = ("escalation", index)
        if step.name is not None:
            if step.name in names:
                problems.append(Problem((*where, "name"), f"duplicate step name {step.name!r}"))
            names.add(step.name)
        if step.transfer_to is not None and step.transfer_to not in config.groups:
            problems.append(Problem(
                (*where, "transfer_to"), _unknown("group", step.transfer_to, list(config.groups))))
        for position, group in enumerate(step.groups):
            if group not in config.groups:
                problems.append(Problem(
                    (*where, "groups", position), _unknown("group", group, list(config.groups))))
        for position, target in enumerate(step.notify):
            kind, _, name = target.partition(":")
            if kind == "agent" and name not in agent_ids:
                problems.append(Problem(
                    (*where, "notify", position), f"notify names unknown agent {name!r}"))
            if kind == "role" and name not in roles:
                problems.append(Problem(
                    (*where, "notify", position),
                    f"unknown role {name!r} (known: {', '.join(sorted(roles))})",
                ))
    return problems
