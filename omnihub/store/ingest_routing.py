"""What ingest asks the router, without the store depending on the router: a protocol
and the plain values a routing decision writes onto a new conversation.

The hub passes an implementation (omnihub/router/ingest_hook.py) to the IngestWriter;
a store without one opens conversations unrouted (no group, priority 0, no deadlines).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from omnihub.normalizer.schema import Conversation, InboundMessage
from omnihub.store.rows import conversation_from_row
from omnihub.store.tables import conversations, customer_profiles, customers
from omnihub.store.types import UTCDateTime

__all__ = ["IngestRouter", "Routed", "apply_follow_ups", "customer_facts", "follow_ups",
           "routed_columns"]


@dataclass(frozen=True, slots=True)
class Routed:
    """A new conversation's routing: its columns, and what its created event tells workers
    (`event` goes into the event as "routing": auto-reply, off hours, matched rules)."""

    category: str | None
    group: str | None
    priority: int
    tags: tuple[str, ...]
    first_response_due: datetime | None
    resolution_due: datetime | None
    event: Mapping[str, Any] = field(default_factory=dict)
    version: str | None = None  # sha256 of the routing.yaml that decided (stable or canary)
    status: str = "open"  # "pending": the FAQ bot takes the conversation first (omnihub/bot)


class IngestRouter(Protocol):
    """Called inside the ingest transaction: pure and fast (microseconds), no I/O."""

    def route(self, inbound: InboundMessage, tags: Sequence[str],
              attributes: Mapping[str, Any], now: datetime, *,
              customer_id: str | None = None) -> Routed | None:
        """The routing of a conversation opened by `inbound`; None: leave it unrouted.
        `customer_id` picks the routing version during a staged rollout (sticky)."""
        ...

    def next_response_due(self, group: str | None, channel_type: str,
                          start: datetime) -> datetime | None:
        """The next-response deadline armed when the customer writes again after an answer."""
        ...


# ---------------------------------------------------------------- used by ingest_batch

_c = conversations.c
# Routing sees the tags agents set and those the profile rules derived (customer_profiles).
_SELECT_FACTS = (
    sa.select(customers.c.id, customers.c.tags, customers.c.attributes,
              customer_profiles.c.derived_tags)
    .select_from(customers.outerjoin(customer_profiles,
                                     customer_profiles.c.customer_id == customers.c.id))
    .where(customers.c.id.in_(sa.bindparam("ids", expanding=True))))
_FOLLOW_UP = (
    sa.update(conversations)
    .where(_c.id == sa.bindparam("cid"))
    .values(status=sa.bindparam("new_status"),
            snoozed_until=sa.bindparam("new_snoozed_until", type_=UTCDateTime()),
            next_response_due=sa.bindparam("new_next_response_due", type_=UTCDateTime()))
)


async def customer_facts(conn: AsyncConnection, customer_ids: Collection[str]
                         ) -> dict[str, tuple[list[str], dict[str, Any]]]:
    """Tags and attributes of existing customers, in one query, for the rules that use them."""
    if not customer_ids:
        return {}
    rows = await conn.execute(_SELECT_FACTS, {"ids": sorted(customer_ids)})
    return {r.id: ([*(r.tags or []), *(t for t in r.derived_tags or () if t not in (r.tags or []))],
                   dict(r.attributes or {})) for r in rows}


def routed_columns(routed: Routed | None) -> dict[str, Any]:
    """The conversation fields a routing decision sets (nothing when unrouted)."""
    if routed is None:
        return {}
    return {"category": routed.category, "group": routed.group, "priority": routed.priority,
            "tags": list(routed.tags), "first_response_due": routed.first_response_due,
            "resolution_due": routed.resolution_due, "routing_version": routed.version,
            "status": routed.status}


def follow_ups(router: IngestRouter | None, rows: Iterable[Mapping[str, Any]], now: datetime
               ) -> tuple[list[dict[str, Any]], list[Conversation]]:
    """What a customer's new message changes on open conversations beyond the touch:
    a snoozed one wakes up, and an answered one gets its next-response deadline.

    Returns the UPDATE parameters and the conversations woken (for their events).
    """
    updates, woken = [], []
    for row in rows:
        snoozed = row["status"] == "snoozed"
        rearm = (router is not None and row["first_response_at"] is not None
                 and row["waiting_since"] is None)
        if not snoozed and not rearm:
            continue
        due = row["next_response_due"]
        if rearm:
            assert router is not None
            due = router.next_response_due(row["skill_group"], row["channel_type"], now)
        updates.append({"cid": row["id"], "new_status": "open" if snoozed else row["status"],
                        "new_snoozed_until": None if snoozed else row["snoozed_until"],
                        "new_next_response_due": due})
        if snoozed:
            woken.append(conversation_from_row(row).model_copy(update={
                "status": "open", "snoozed_until": None, "next_response_due": due,
                "last_message_at": now, "updated_at": now}))
    return updates, woken


async def apply_follow_ups(conn: AsyncConnection, updates: Sequence[dict[str, Any]]) -> None:
    if updates:
        await conn.execute(_FOLLOW_UP, list(updates))
