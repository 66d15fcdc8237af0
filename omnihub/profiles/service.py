"""Keeping derived tags current: recompute when facts change, and when time expires them.

Three triggers: an order pushed (the API and the shop webhook call `recompute` after
their commit), a conversation event (created, updated, resolved, closed — its category
and group feed `conversations:` rules — and customer merges; a bus consumer), and the
clock: a loop that recomputes the profiles whose `recheck_at` has come (a counted fact
left its window) or that were computed under other rules. The clock is injected so tests can move time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from omnihub.hub.background import in_background
from omnihub.profiles.rules import ConversationFact, CustomerFacts, OrderFact, TagRules, evaluate
from omnihub.store import profiles as store
from omnihub.store.db import Database

__all__ = ["ProfileService"]

log = logging.getLogger("omnihub.profiles")

#: conversation events whose facts (category, group, a new conversation) rules count
_EVENTS = ("conversation.created", "conversation.updated", "conversation.transferred",
           "conversation.resolved", "conversation.closed")
_MERGES = ("customer.merged", "customer.unmerged")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class ProfileService:
    """Derived tags of one hub: `recompute(customer)`, `run_due()`, `running()`."""

    def __init__(self, db: Database, rules: TagRules | None, *,
                 clock: Callable[[], datetime] = utcnow, recheck_seconds: float = 300.0) -> None:
        self.db = db
        self.rules = rules
        self.clock = clock
        self.recheck_seconds = recheck_seconds

    async def recompute(self, customer_id: str) -> list[str]:
        """Evaluate the rules for one customer now and store the result; the tags."""
        if self.rules is None or not self.rules.tags:
            return []
        now = self.clock()
        longest = self.rules.longest_window()
        loaded = await store.load_facts(self.db, customer_id, store.window_start(now, longest))
        if loaded is None:  # unknown or merged away: nothing of its own to tag
            return []
        first_seen, orders, convs = loaded
        facts = CustomerFacts(
            first_seen=first_seen,
            orders=[OrderFact(_aware(o.placed_at), o.status, o.currency, Decimal(o.total))
                    for o in orders],
            conversations=[ConversationFact(_aware(c.created_at), c.category, c.skill_group)
                           for c in convs])
        result = evaluate(self.rules, facts, now)
        previous = await store.save_profile(
            self.db, customer_id, tags=result.tags, facts=result.facts,
            rules_sha256=self.rules.sha256, now=now, recheck_at=result.recheck_at)
        if previous is not None and previous != result.tags:
            log.info("customer %s derived tags %s -> %s", customer_id, previous, result.tags)
        return result.tags

    async def run_due(self, *, batch: int = 500) -> int:
        """Recompute every profile the clock made stale; how many were recomputed."""
        if self.rules is None:
            return 0
        done = 0
        while True:
            due = await store.due_customers(self.db, self.clock(), self.rules.sha256,
                                            limit=batch)
            for customer_id in due:
                tags = await self.recompute(customer_id)
                if not tags and await self._gone(customer_id):
                    await store.save_profile(self.db, customer_id, tags=[], facts={},
                                             rules_sha256=self.rules.sha256,
                                             now=self.clock(), recheck_at=None)
            done += len(due)
            if len(due) < batch:
                return done

    async def _gone(self, customer_id: str) -> bool:
        return await store.load_facts(self.db, customer_id, self.clock()) is None

    async def handle(self, envelope: Any) -> None:
        """Bus consumer: a conversation changed, so its customer's tags may have."""
        if self.rules is None:
            return
        data: dict[str, Any] = envelope.payload.get("data", {})
        if envelope.type in _MERGES:  # both records' facts moved
            for key in ("target_id", "source_id"):
                if data.get(key):
                    await self.recompute(data[key])
            return
        if envelope.type not in _EVENTS:
            return
        conversation = data.get("conversation", data)
        customer_id = conversation.get("customer_id")
        if customer_id:
            await self.recompute(customer_id)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the clock for the duration of the block (nothing to do without rules)."""
        if self.rules is None or not self.rules.tags:
            yield
            return
        async with in_background(self._loop(), "profiles-clock"):
            yield

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_due()
            except Exception:
                log.exception("recomputing derived tags failed; trying again later")
            await asyncio.sleep(self.recheck_seconds)
