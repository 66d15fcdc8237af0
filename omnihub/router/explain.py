"""A routing decision in words, for `omnihub route --explain` and for logs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from omnihub.router.assign import AgentState, pick_agent
from omnihub.router.decision import Decision
from omnihub.router.engine import CompiledRouter


def dry_run_agent(router: CompiledRouter, group: str | None) -> tuple[str | None, str]:
    """The agent a group would pick if every agent were online with no open conversation."""
    if group is None or group not in router.groups:
        return None, "no group: the conversation waits in the general queue"
    compiled = router.groups[group]
    if compiled.strategy == "manual":
        return None, f"group {group} assigns manually: the conversation waits in its queue"
    if not compiled.agents:
        return None, f"group {group} has no agents"
    states = {agent: AgentState("online", 0) for agent in compiled.agents}
    agent = pick_agent(compiled, compiled.strategy, states)
    return agent, f"{compiled.strategy}; dry run: every agent online, none busy"


def _time(at: datetime | None, zone: ZoneInfo) -> str:
    if at is None:
        return "-"
    clock = "%H:%M:%S" if at.second else "%H:%M"
    return at.astimezone(zone).strftime(f"%Y-%m-%d {clock} %a %Z")


def render_decision(router: CompiledRouter, decision: Decision, *, routing: Path | str,
                    at: datetime, zone: ZoneInfo) -> str:
    """Every field of a decision, deadlines in the routing time zone, then the rule trace."""
    agent, how = dry_run_agent(router, decision.group)
    agent_name = next((a.name for a in router.config.agents if a.id == agent and a.name), None)
    lines = [
        f"routing     {routing}",
        f"arrived     {_time(at, zone)}",
        f"category    {decision.category or '-'}",
        f"group       {decision.group or '-'} (calendar {decision.calendar})",
        f"priority    {decision.priority}",
        f"tags        {', '.join(decision.tags) or '-'}",
    ]
    if decision.off_hours:
        held = (f"; kept as a left message until {_time(decision.hold_until, zone)}"
                if decision.hold_until else "")
        lines.append(f"off hours   yes{held}")
    else:
        lines.append("off hours   no")
    lines += [
        f"auto-reply  {decision.auto_reply or '-'}",
        f"due         first response  {_time(decision.first_response_due, zone)}",
        f"            next response   {_time(decision.next_response_due, zone)}",
        f"            resolution      {_time(decision.resolution_due, zone)}",
        f"agent       {agent or '-'}{f' ({agent_name})' if agent_name else ''} [{how}]",
    ]
    if decision.trace:
        lines += ["", "rules"]
        width = max(len(t.name) for t in decision.trace)
        for trace in decision.trace:
            mark = "MATCH" if trace.matched else "skip "
            where = f"rules.{trace.index}"
            lines.append(f"  {mark}  {where:<9} {trace.name:<{width}}  {trace.reason}")
    elif decision.matched_rules:
        names = ", ".join(router.rule_name(i) for i in decision.matched_rules)
        lines.append(f"matched     {names}")
    return "\n".join(lines)
