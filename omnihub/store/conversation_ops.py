"""What agents do to a conversation: assign, transfer, escalate, update, resolve, close,
reopen, snooze, watch.

Each operation is one transaction that reads the conversation (locked on the server
databases), decides, writes the change, its agent-facing event and its audit entry
(DESIGN invariant 3). An operation that would change nothing writes nothing. A `check`
callback runs on the locked row before anything is decided, so permission rules that
depend on the conversation (its group, its escalation) can't race with a concurrent change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from omnihub.normalizer.schema import OPEN_STATUSES, Conversation
from omnihub.store.audit import Actor, write_audit
from omnihub.store.db import Database
from omnihub.store.errors import NotFound, StoreError
from omnihub.store.events import event_row, write_outbox
from omnihub.store.rows import CONVERSATION_COLUMNS, conversation_from_row, open_key
from omnihub.store.tables import conversation_watchers, conversations, sla_fired

__all__ = ["Change", "InvalidTransition", "Ladder", "LadderStep", "OpenConversationExists",
           "apply_change", "assign", "close", "escalate", "list_watchers", "reopen", "resolve",
           "set_watching", "snooze", "transfer", "update", "wake_snoozed"]

Check = Callable[[Conversation], None]
Guard = Callable[[AsyncConnection, Conversation], Awaitable[bool]]
Ladder = Callable[[Conversation], "LadderStep | None"]
_c = conversations.c
_w = conversation_watchers.c

# operation -> the statuses it may start from.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "resolve": OPEN_STATUSES,
    "close": (*OPEN_STATUSES, "resolved"),
    "reopen": ("snoozed", "resolved", "closed"),
    "snooze": ("open", "pending", "snoozed"),
    "escalate": OPEN_STATUSES,
}


class InvalidTransition(StoreError, ValueError):
    """The conversation's status does not allow this operation (answered 409)."""


class OpenConversationExists(StoreError):
    """Reopening would give the customer two open conversations on one channel thread."""

    def __init__(self, message: str, other_id: str | None) -> None:
        super().__init__(message)
        self.other_id = other_id


@dataclass(slots=True)
class Change:
    """What an operation decided: the columns to set, the event to emit and its data."""

    event: str
    values: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)
    fired_key: str | None = None  # an `sla_fired` key recorded with the change (once only)


@dataclass(frozen=True, slots=True)
class LadderStep:
    """An escalation step applied by hand (router/manual_escalation.py picks it)."""

    key: str
    level: int  # escalation_level afterwards: the step's 1-based position in the ladder
    transfer_to: str | None
    priority: Callable[[int], int] | None  # current priority -> new one
    notify: dict[str, Any]


def _allowed_from(operation: str, conversation: Conversation) -> None:
    if conversation.status not in TRANSITIONS[operation]:
        raise InvalidTransition(f"can't {operation} a conversation that is {conversation.status}")


async def _read(conn: AsyncConnection, conversation_id: str, *, lock: bool) -> Conversation:
    stmt = sa.select(*CONVERSATION_COLUMNS).where(_c.id == conversation_id)
    if lock and conn.dialect.name != "sqlite":  # SQLite: BEGIN IMMEDIATE already excludes
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).mappings().first()
    if row is None:
        raise NotFound(f"no conversation with id {conversation_id!r}")
    return conversation_from_row(row)


async def apply_change(
    db: Database, conversation_id: str, actor: Actor, action: str,
    decide: Callable[[Conversation, datetime], Change | None], *,
    check: Check | None = None, on_commit: Callable[[], object] | None = None,
    now: datetime | None = None, guard: Guard | None = None,
) -> Conversation:
    """Run one operation in one transaction; return the conversation as now stored.

    `guard`: asked inside the transaction, after `decide` chose a change, whether it may
    still be made (it can lock and count rows: an agent's capacity); False changes nothing.
    """
    now = now or datetime.now(UTC)
    async with db.write() as conn:
        before = await _read(conn, conversation_id, lock=True)
        if check is not None:
            check(before)
        change = decide(before, now)
        if change is None:
            return before
        if guard is not None and not await guard(conn, before):
            return before
        if change.fired_key is not None:
            try:
                async with conn.begin_nested():
                    await conn.execute(sa.insert(sla_fired).values(
                        conversation_id=conversation_id, key=change.fired_key, fired_at=now))
            except IntegrityError:
                raise InvalidTransition(f"{change.fired_key} has just been applied by another "
                                        "escalation; reload the conversation") from None
        try:
            async with conn.begin_nested():
                await conn.execute(sa.update(conversations).where(_c.id == conversation_id)
                                   .values(**change.values, updated_at=now))
        except IntegrityError:
            key = change.values.get("open_key")
            if key is None:
                raise
            other = (await conn.execute(sa.select(_c.id).where(_c.open_key == key))).scalar()
            raise OpenConversationExists(
                f"the customer already has an open conversation on this channel ({other})",
                other) from None
        after = await _read(conn, conversation_id, lock=False)
        before_json, after_json = before.model_dump(mode="json"), after.model_dump(mode="json")
        data = {"conversation": after_json, "actor": actor.author, **change.data}
        await write_outbox(conn, [event_row(change.event, data, key=conversation_id, now=now)])
        await write_audit(conn, actor, action, "conversation", conversation_id,
                          before=before_json, after=after_json, now=now)
    if on_commit is not None:
        on_commit()
    return after


def assign(assignee: str | None) -> Callable[[Conversation, datetime], Change | None]:
    def decide(conv: Conversation, now: datetime) -> Change | None:
        if conv.assignee == assignee:
            return None
        return Change("conversation.assigned", {"assignee": assignee},
                      {"assignee": assignee, "previous_assignee": conv.assignee})
    return decide


def transfer(group: str | None, assignee: str | None,
             reason: str) -> Callable[[Conversation, datetime], Change | None]:
    """To another group (unassigned there unless an agent is named) or to another agent."""
    def decide(conv: Conversation, now: datetime) -> Change | None:
        to_group = conv.group if group is None else group
        if to_group == conv.group and assignee == conv.assignee:
            return None
        return Change("conversation.transferred", {"skill_group": to_group, "assignee": assignee},
                      {"from": {"group": conv.group, "assignee": conv.assignee},
                       "to": {"group": to_group, "assignee": assignee}, "reason": reason})
    return decide


def escalate(reason: str, priority: int | None, group: str | None = None,
             ladder: Ladder | None = None,
             ) -> Callable[[Conversation, datetime], Change]:
    """One step up routing.yaml's ladder: `ladder` picks the step after the conversation's
    level (its transfer, priority change and notify list); an explicit `group` or
    `priority` overrides the step's. Past the last step only an explicit `group` may
    still escalate (one level up); without a ladder, escalation just raises the level."""
    def decide(conv: Conversation, now: datetime) -> Change:
        _allowed_from("escalate", conv)
        step = ladder(conv) if ladder is not None else None
        if ladder is not None and step is None and group is None:
            raise InvalidTransition(
                f"no escalation step left after level {conv.escalation_level}: the ladder in "
                "routing.yaml is exhausted; transfer the conversation or give a `group`")
        level = step.level if step is not None else conv.escalation_level + 1
        to_group = group if group is not None else (step.transfer_to if step else None)
        values: dict[str, Any] = {"escalation_level": max(level, conv.escalation_level)}
        data: dict[str, Any] = {"level": values["escalation_level"], "reason": reason}
        if priority is not None:
            values["priority"] = priority
        elif step is not None and step.priority is not None:
            values["priority"] = step.priority(conv.priority)
        if to_group is not None and to_group != conv.group:
            values.update(skill_group=to_group, assignee=None)
            data.update({"from": {"group": conv.group, "assignee": conv.assignee},
                         "transfer_to": to_group})
        if step is not None:
            data.update(step=step.key, notify=step.notify, manual=True)
        return Change("conversation.escalated", values, data,
                      fired_key=f"step:{step.key}" if step is not None else None)
    return decide


def update(fields: dict[str, Any], *, add_tags: list[str] = (),  # type: ignore[assignment]
           remove_tags: list[str] = ()) -> Callable[[Conversation, datetime], Change | None]:  # type: ignore[assignment]
    """Priority, category and tags; `add_tags`/`remove_tags` edit tags without a race."""
    def decide(conv: Conversation, now: datetime) -> Change | None:
        wanted = dict(fields)
        if add_tags or remove_tags:
            tags = list(wanted.get("tags", conv.tags))
            tags += [t for t in add_tags if t not in tags]
            wanted["tags"] = [t for t in tags if t not in remove_tags]
        changes = {k: [getattr(conv, k), v] for k, v in wanted.items() if getattr(conv, k) != v}
        if not changes:
            return None
        return Change("conversation.updated", {k: v for k, (_, v) in changes.items()},
                      {"change": "fields", "changes": changes})
    return decide


def resolve() -> Callable[[Conversation, datetime], Change]:
    def decide(conv: Conversation, now: datetime) -> Change:
        _allowed_from("resolve", conv)
        return Change("conversation.resolved", {"status": "resolved", "resolved_at": now,
                                                "open_key": None, "snoozed_until": None})
    return decide


def close() -> Callable[[Conversation, datetime], Change]:
    def decide(conv: Conversation, now: datetime) -> Change:
        _allowed_from("close", conv)
        return Change("conversation.closed", {"status": "closed", "closed_at": now,
                                              "open_key": None, "snoozed_until": None})
    return decide


def reopen() -> Callable[[Conversation, datetime], Change]:
    """Back to open; the open_key comes back, so a second open conversation is refused."""
    def decide(conv: Conversation, now: datetime) -> Change:
        _allowed_from("reopen", conv)
        return Change("conversation.reopened", {
            "status": "open", "resolved_at": None, "closed_at": None, "snoozed_until": None,
            "open_key": open_key(conv.customer_id, conv.channel_id, conv.thread_key)},
            {"previous_status": conv.status})
    return decide


def snooze(until: datetime) -> Callable[[Conversation, datetime], Change]:
    def decide(conv: Conversation, now: datetime) -> Change:
        _allowed_from("snooze", conv)
        if until <= now:
            raise InvalidTransition("snooze `until` must be in the future")
        return Change("conversation.updated", {"status": "snoozed", "snoozed_until": until},
                      {"change": "snoozed", "snoozed_until": until.isoformat()})
    return decide


async def wake_snoozed(db: Database, *, now: datetime | None = None,
                       on_commit: Callable[[], object] | None = None) -> list[str]:
    """Reopen every snoozed conversation whose snooze has ended; return their ids."""
    now = now or datetime.now(UTC)
    async with db.read() as conn:
        due = list((await conn.execute(sa.select(_c.id).where(
            _c.status == "snoozed", _c.snoozed_until <= now))).scalars())
    woken = []
    system = Actor("system", "system")
    for conversation_id in due:
        def decide(conv: Conversation, at: datetime) -> Change | None:
            if conv.status != "snoozed" or conv.snoozed_until is None or conv.snoozed_until > at:
                return None  # another process woke it, or it was snoozed again
            return Change("conversation.reopened", {"status": "open", "snoozed_until": None},
                          {"previous_status": "snoozed", "reason": "snooze ended"})
        after = await apply_change(db, conversation_id, system, "conversation.wake", decide,
                                   on_commit=on_commit, now=now)
        if after.status == "open":
            woken.append(conversation_id)
    return woken


async def list_watchers(db: Database, conversation_id: str) -> list[str]:
    async with db.read() as conn:
        return list((await conn.execute(sa.select(_w.agent).where(
            _w.conversation_id == conversation_id).order_by(_w.agent))).scalars())


async def set_watching(db: Database, conversation_id: str, agent: str, watching: bool,
                       actor: Actor, *, check: Check | None = None,
                       on_commit: Callable[[], object] | None = None) -> list[str]:
    """Add or remove one watcher; return the watchers afterwards (idempotent)."""
    now = datetime.now(UTC)
    async with db.write() as conn:
        conv = await _read(conn, conversation_id, lock=True)
        if check is not None:
            check(conv)
        query = sa.select(_w.agent).where(_w.conversation_id == conversation_id).order_by(_w.agent)
        before = list((await conn.execute(query)).scalars())
        if (agent in before) == watching:
            return before
        if watching:
            await conn.execute(sa.insert(conversation_watchers).values(
                conversation_id=conversation_id, agent=agent, created_at=now))
        else:
            await conn.execute(sa.delete(conversation_watchers).where(
                _w.conversation_id == conversation_id, _w.agent == agent))
        after = list((await conn.execute(query)).scalars())
        data = {"conversation": conv.model_dump(mode="json"), "actor": actor.author,
                "change": "watchers", "watchers": after}
        await write_outbox(conn, [event_row("conversation.updated", data, key=conversation_id,
                                            now=now)])
        await write_audit(conn, actor, "conversation.watch" if watching else "conversation.unwatch",
                          "conversation", conversation_id, before={"watchers": before},
                          after={"watchers": after}, now=now)
    if on_commit is not None:
        on_commit()
    return after
