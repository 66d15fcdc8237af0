"""Give a new conversation to the bot at ingest: wraps the routing hook so a conversation
the bot takes is created `pending` (Chatwoot's agent-bot status) in the same transaction.

The routing decision is kept (group, priority, category, tags): on hand-over the
conversation only has to become `open` to join its group's queue — the assigner leaves
`pending` conversations alone (store/queue.py QUEUED_STATUSES). The SLA deadlines are
not armed while the bot holds it; the hand-over arms them from that moment.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from omnihub.bot.settings import BotSettings
from omnihub.normalizer.schema import InboundMessage
from omnihub.store.ingest_routing import IngestRouter, Routed

__all__ = ["BotHook", "takes_first", "with_bot"]


def takes_first(settings: BotSettings, channel_id: str, routed: Routed | None) -> bool:
    """Whether the bot takes a new conversation on this channel with this routing."""
    rules = set(routed.event.get("rules") or ()) if routed is not None else set()
    wanted = channel_id in settings.channels or bool(rules & set(settings.rules))
    if not wanted:
        return False
    if routed is not None and (routed.category in settings.skip_categories
                               or routed.group in settings.skip_groups):
        return False  # complaints (by default) always go straight to people
    return True


class BotHook:
    """An IngestRouter: the inner router's decision, with status `pending` when the bot
    takes the conversation."""

    def __init__(self, inner: IngestRouter | None, settings: BotSettings) -> None:
        self.inner = inner
        self.settings = settings

    def route(self, inbound: InboundMessage, tags: Sequence[str],
              attributes: Mapping[str, Any], now: datetime, **kwargs: Any) -> Routed | None:
        routed = (self.inner.route(inbound, tags, attributes, now, **kwargs)
                  if self.inner is not None else None)
        if inbound.automated or not takes_first(self.settings, inbound.channel_id, routed):
            return routed
        if routed is None:
            routed = Routed(category=None, group=None, priority=0, tags=(),
                            first_response_due=None, resolution_due=None)
        # No response clocks while the bot holds it: they start at the hand-over.
        return dataclasses.replace(routed, status="pending", first_response_due=None,
                                   resolution_due=None, event={**routed.event, "bot": True})

    def next_response_due(self, group: str | None, channel_type: str,
                          start: datetime) -> datetime | None:
        if self.inner is None:
            return None
        return self.inner.next_response_due(group, channel_type, start)


def with_bot(inner: IngestRouter | None, settings: BotSettings) -> IngestRouter | None:
    """The hub's ingest router: the routing hook, wrapped when the bot takes anything."""
    return BotHook(inner, settings) if settings.enabled else inner
