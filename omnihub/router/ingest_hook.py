"""The router as ingest sees it: an inbound message in, a new conversation's routing out.

Runs inside the ingest transaction for every new conversation, so it only reads the
routing version in force and the message; the customer's tags and attributes come from
the one batched query ingest makes for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from omnihub.normalizer.schema import InboundMessage
from omnihub.router.decision import RouteInput
from omnihub.router.canary import CanaryState
from omnihub.router.runtime import RoutingState
from omnihub.store.ingest_routing import Routed

__all__ = ["RoutingHook", "route_input"]


def route_input(inbound: InboundMessage, tags: Sequence[str] = (),
                attributes: Mapping[str, Any] | None = None) -> RouteInput:
    """What the rules look at: the text of every part (captions too), the part kinds and
    the language, when the channel told it."""
    texts = []
    for part in inbound.parts:
        text = getattr(part, "text", None) or getattr(part, "caption", None)
        if text:
            texts.append(text)
    return RouteInput(
        channel_type=inbound.channel_type, channel_id=inbound.channel_id,
        text="\n".join(texts), kinds=frozenset(part.kind for part in inbound.parts),
        customer_tags=frozenset(tags), customer_attributes=attributes or {},
        language=inbound.language,
    )


class RoutingHook:
    """Implements omnihub.store.ingest_routing.IngestRouter over the hub's RoutingState."""

    def __init__(self, state: RoutingState, canary: CanaryState | None = None) -> None:
        self.state = state
        self.canary = canary

    def route(self, inbound: InboundMessage, tags: Sequence[str],
              attributes: Mapping[str, Any], now: datetime, *,
              customer_id: str | None = None) -> Routed | None:
        current = self.state.current
        canary = None if self.canary is None else self.canary.pick(customer_id)
        if canary is not None:  # a staged rollout, and this customer's bucket takes it
            current = canary.version
        router = current.router
        if router is None:
            return None
        decision = router.route(route_input(inbound, tags, attributes), now=now)
        event = {
            "version": current.sha256,
            "variant": "stable" if canary is None else "canary",
            "off_hours": decision.off_hours,
            "hold_until": decision.hold_until.isoformat() if decision.hold_until else None,
            # machine-sent mail (an out-of-office, a bounce) is never answered: no loops
            "auto_reply": None if inbound.automated else decision.auto_reply,
            "calendar": decision.calendar,
            "rules": [router.rule_name(index) for index in decision.matched_rules],
        }
        return Routed(category=decision.category, group=decision.group,
                      priority=decision.priority, tags=decision.tags,
                      first_response_due=decision.first_response_due,
                      resolution_due=decision.resolution_due, event=event,
                      version=current.sha256)

    def next_response_due(self, group: str | None, channel_type: str,
                          start: datetime) -> datetime | None:
        router = self.state.router
        if router is None:
            return None
        return router.due_time(group=group, channel_type=channel_type, metric="next_response",
                               start=start)
