"""Retention: delete resolved and closed conversations past their channel's period.

What goes with a conversation: its messages, their raw payloads, edits and every row of
another table that needs it (found from the foreign keys of store/tables.py, so tables
added later follow: a NOT NULL reference is deleted, a nullable one set to NULL), its
outbox rows that are already on the bus and owe no retry, and media blobs no remaining
row refers to. What never goes: an open, pending or snoozed conversation (the status is
checked, under a row lock, in the transaction that deletes), customers and their
identities, the audit log.

Work is done `batch_size` conversations per transaction with a pause between, so a
serving hub's writers get the database in between.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from omnihub.store.backup.export import keyset_after
from omnihub.store.backup.media import blob_path, collect_media_refs
from omnihub.store.db import Database
from omnihub.store.tables import (
    conversations,
    jobs,
    messages,
    metadata,
    outbox,
    outbox_pending,
    raw_payloads,
)
from omnihub.store.types import UTCDateTime

__all__ = ["PRUNABLE_STATUSES", "ChannelPrune", "PruneReport", "RetentionPolicy", "prune"]

log = logging.getLogger("omnihub.store.retention")

PRUNABLE_STATUSES = ("resolved", "closed")
DEFAULT_BATCH = 500
_c = conversations.c
_QUEUES = frozenset({outbox.name, jobs.name})


@dataclass(frozen=True)
class RetentionPolicy:
    """How long finished conversations are kept: per channel id or type, else `default`."""

    default: timedelta
    channels: Mapping[str, timedelta] = field(default_factory=dict)

    def cutoff(self, now: datetime) -> sa.ColumnElement[datetime]:
        """The last-activity time before which a conversation of its channel may go.

        A channel id wins over a channel type of the same name.
        """
        def at(period: timedelta) -> sa.ColumnElement[datetime]:
            return sa.literal(now - period, UTCDateTime())

        whens = [(_c.channel_id == key, at(period)) for key, period in self.channels.items()]
        whens += [(_c.channel_type == key, at(period)) for key, period in self.channels.items()]
        return sa.case(*whens, else_=at(self.default)) if whens else at(self.default)

    def due(self, now: datetime) -> sa.ColumnElement[bool]:
        cutoff = self.cutoff(now)
        return sa.and_(_c.status.in_(PRUNABLE_STATUSES), _c.last_message_at < cutoff,
                       _c.updated_at < cutoff)


@dataclass
class ChannelPrune:
    channel_type: str
    conversations: int = 0
    messages: int = 0


@dataclass
class PruneReport:
    """What a prune removed (or, in a dry run, would remove), per channel id."""

    dry_run: bool
    channels: dict[str, ChannelPrune] = field(default_factory=dict)
    media_deleted: int = 0

    @property
    def conversations(self) -> int:
        return sum(c.conversations for c in self.channels.values())

    @property
    def messages(self) -> int:
        return sum(c.messages for c in self.channels.values())

    def _add(self, channel_id: str, channel_type: str, conversations: int, messages: int) -> None:
        entry = self.channels.setdefault(channel_id, ChannelPrune(channel_type))
        entry.conversations += conversations
        entry.messages += messages


@dataclass(frozen=True)
class _Step:
    table: sa.Table
    where: sa.ColumnElement[bool]
    nullify: sa.Column[Any] | None = None  # set this column NULL instead of deleting


def _plan(ids: list[str]) -> list[_Step]:
    """Every row that must go (or lose its reference) with these conversations, children
    first. Follows foreign keys from conversations; adds outbox and raw payloads, which
    refer to conversations and messages by value."""
    steps: list[_Step] = []
    frontier = [_Step(conversations, _c.id.in_(ids))]
    seen = {conversations.name}
    while frontier:
        parent = frontier.pop(0)
        steps.append(parent)
        for table in metadata.sorted_tables:
            for fk in table.foreign_keys:
                if fk.column.table is not parent.table or table is parent.table:
                    continue
                selector = fk.parent.in_(sa.select(fk.column).where(parent.where))
                if fk.parent.nullable:
                    steps.append(_Step(table, selector, nullify=fk.parent))
                elif table.name not in seen:  # a cycle of NOT NULL keys can't exist in rows
                    seen.add(table.name)
                    frontier.append(_Step(table, selector))
    steps.append(_Step(raw_payloads, raw_payloads.c.id.in_(
        sa.select(messages.c.raw_ref).where(messages.c.conversation_id.in_(ids)))))
    steps.append(_Step(outbox, sa.and_(
        outbox.c.key.in_(ids),
        ~sa.exists().where(outbox_pending.c.seq == outbox.c.seq),
        ~sa.exists().where(jobs.c.event_id == outbox.c.id))))
    return list(reversed(steps))


async def _media_of(conn: AsyncConnection, steps: list[_Step]) -> set[str]:
    refs: set[str] = set()
    for step in steps:
        if step.nullify is not None:
            continue
        columns = [c for c in step.table.columns if isinstance(c.type, sa.JSON)]
        if columns:
            for row in await conn.execute(sa.select(*columns).where(step.where)):
                collect_media_refs(list(row), refs)
    return refs


async def _prune_batch(conn: AsyncConnection, policy: RetentionPolicy, now: datetime,
                       batch_size: int, report: PruneReport) -> set[str] | None:
    """Delete one batch in `conn`'s transaction; the media it referred to, or None if done."""
    chosen = (await conn.execute(
        sa.select(_c.id, _c.channel_id, _c.channel_type).where(policy.due(now))
        .order_by(_c.last_message_at, _c.id).limit(batch_size).with_for_update())).all()
    if not chosen:
        return None
    ids = [row.id for row in chosen]
    counts = dict((await conn.execute(
        sa.select(messages.c.conversation_id, sa.func.count()).where(
            messages.c.conversation_id.in_(ids)).group_by(messages.c.conversation_id))).all())
    for row in chosen:
        report._add(row.channel_id, row.channel_type, 1, counts.get(row.id, 0))
    steps = _plan(ids)
    media = await _media_of(conn, steps)
    for step in steps:
        if step.nullify is not None:
            await conn.execute(step.table.update().where(step.where).values(
                {step.nullify.name: None}))
        else:
            await conn.execute(step.table.delete().where(step.where))
    return media


async def _count(db: Database, policy: RetentionPolicy, now: datetime) -> PruneReport:
    report = PruneReport(dry_run=True)
    due = policy.due(now)
    async with db.read() as conn:
        per_channel = (await conn.execute(
            sa.select(_c.channel_id, _c.channel_type, sa.func.count()).where(due)
            .group_by(_c.channel_id, _c.channel_type))).all()
        per_channel_messages = dict((await conn.execute(
            sa.select(_c.channel_id, sa.func.count(messages.c.id))
            .select_from(conversations.join(messages, messages.c.conversation_id == _c.id))
            .where(due).group_by(_c.channel_id))).all())
    for channel_id, channel_type, count in per_channel:
        report._add(channel_id, channel_type, count, per_channel_messages.get(channel_id, 0))
    return report


async def referenced_media(db: Database, candidates: set[str], *,
                           batch_rows: int = 1000) -> set[str]:
    """Which of `candidates` some row of the store still refers to (in any JSON column).

    One pass per table over the rows whose JSON mentions a sha256, in key order and short
    read transactions. The transport queues (outbox, retry jobs) don't count: an event
    about a message carries its media reference, and a pruned conversation's event still
    waiting for a consumer must not keep its blobs forever.
    """
    found: set[str] = set()
    for table in metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, sa.JSON)]
        if not columns or table.name in _QUEUES or found >= candidates:
            continue
        key = list(table.primary_key.columns)
        mentions = sa.or_(*(sa.cast(c, sa.Text).like('%"sha256"%') for c in columns))
        last: tuple[Any, ...] | None = None
        while True:
            stmt = sa.select(*key, *columns).where(mentions).order_by(*key).limit(batch_rows)
            if last is not None:
                stmt = stmt.where(keyset_after(key, last))
            async with db.read() as conn:
                rows = (await conn.execute(stmt)).all()
            refs: set[str] = set()
            for row in rows:
                collect_media_refs(list(row[len(key):]), refs)
            found |= refs & candidates
            if len(rows) < batch_rows:
                break
            last = tuple(rows[-1][: len(key)])
    return found


def _delete_blobs(media_root: Path, shas: set[str]) -> int:
    deleted = 0
    for sha in shas:
        try:
            blob_path(media_root, sha).unlink()
            deleted += 1
        except FileNotFoundError:
            pass
    return deleted


async def prune(db: Database, policy: RetentionPolicy, *, now: datetime, media_root: Path,
                dry_run: bool = False, batch_size: int = DEFAULT_BATCH,
                pause_seconds: float = 0.05) -> PruneReport:
    """Remove what the policy lets go as of `now`; with `dry_run`, only count it."""
    if dry_run:
        return await _count(db, policy, now)
    report = PruneReport(dry_run=False)
    candidates: set[str] = set()
    while True:
        async with db.write() as conn:
            media = await _prune_batch(conn, policy, now, batch_size, report)
        if media is None:
            break
        candidates |= media
        await asyncio.sleep(pause_seconds)
    if candidates:
        unused = candidates - await referenced_media(db, candidates)
        report.media_deleted = await asyncio.to_thread(_delete_blobs, media_root, unused)
    if report.conversations:
        log.info("pruned %d conversation(s), %d message(s), %d media file(s)",
                 report.conversations, report.messages, report.media_deleted)
    return report
