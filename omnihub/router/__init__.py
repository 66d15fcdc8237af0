"""Routing: routing.yaml models, rule matching, business hours, SLA deadlines, assignment, escalation.

Everything here is pure: the store and the API feed it facts (a message, agent states,
due times, the clock) and keep what it decides.
"""

from __future__ import annotations

from omnihub.router.assign import (
    AgentState, Assignment, Group, Queue, QueueEntry, Rotation, hand_out, pick_agent,
)
from omnihub.router.calendar import (
    ALWAYS_OPEN, BusinessCalendar, add_business_time, business_seconds_between, is_open,
    next_opening,
)
from omnihub.router.config import RoutingConfig
from omnihub.router.decision import Decision, RouteInput, RuleTrace
from omnihub.router.engine import CompiledRouter, compile_router
from omnihub.router.escalation import DueStep, SlaClock, due_steps, next_escalation_at
from omnihub.router.load import load_routing

__all__ = [
    "ALWAYS_OPEN",
    "AgentState",
    "Assignment",
    "BusinessCalendar",
    "CompiledRouter",
    "Decision",
    "DueStep",
    "Group",
    "Queue",
    "QueueEntry",
    "Rotation",
    "RouteInput",
    "RoutingConfig",
    "RuleTrace",
    "SlaClock",
    "add_business_time",
    "business_seconds_between",
    "compile_router",
    "due_steps",
    "hand_out",
    "is_open",
    "load_routing",
    "next_escalation_at",
    "next_opening",
    "pick_agent",
]
