"""Customers: profiles with their decrypted identities, lookup by address, merge and unmerge.

A merge moves the source customer's identities, conversations and messages to the
target in one transaction and records every moved row id in `merges.moved`, so that
`unmerge` can move exactly those rows back. Conversation open keys: a moved conversation
that is still open takes the target's open key for its channel and thread, unless the
target already has an open conversation there; then it keeps its status but gets no
open key (new messages go to the target's conversation). Messages always follow their
conversation, also on unmerge: a message that arrived in a moved conversation after the
merge goes back with it, so a conversation and its messages never name two customers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from omnihub.normalizer.ids import new_id
from omnihub.normalizer.schema import OPEN_STATUSES, Customer, Identity
from omnihub.store.audit import Actor, write_audit
from omnihub.store.crypto import ADDRESS_PURPOSE, PiiCipher
from omnihub.store.db import Database
from omnihub.store.errors import MergeError, NotFound
from omnihub.store.events import event_row, write_outbox
from omnihub.store.rows import open_key
from omnihub.store.tables import (conversations, customer_profiles, customers, identities,
                                   merges, messages)

__all__ = ["find_customer", "get_customer", "merge_customers", "unmerge"]

_MAX_REDIRECTS = 16  # merged_into chains are short; this only stops a corrupt loop
_CHUNK = 500  # ids per IN list, well under every backend's parameter limit


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])


async def get_customer(db: Database, cipher: PiiCipher, customer_id: str) -> Customer | None:
    """The customer with decrypted identities; a merged-away id leads to its target."""
    async with db.read() as conn:
        for _ in range(_MAX_REDIRECTS):
            row = (
                await conn.execute(sa.select(customers).where(customers.c.id == customer_id))
            ).first()
            if row is None:
                return None
            if row.merged_into is None:
                break
            customer_id = row.merged_into
        else:
            raise MergeError(f"customer {customer_id} is in a merge loop")
        found = await conn.execute(
            sa.select(identities.c.kind, identities.c.address_enc, identities.c.verified)
            .where(identities.c.customer_id == customer_id)
            .order_by(identities.c.created_at, identities.c.id)
        )
        idents = [
            Identity(
                kind=r.kind,
                address=cipher.decrypt(r.address_enc, ADDRESS_PURPOSE),
                verified=r.verified,
            )
            for r in found
        ]
        derived = (await conn.execute(sa.select(customer_profiles.c.derived_tags).where(
            customer_profiles.c.customer_id == customer_id))).scalar()
    return Customer(
        id=row.id,
        display_name=row.display_name,
        identities=idents,
        tags=row.tags,
        derived_tags=derived or [],
        attributes=row.attributes,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def find_customer(
    db: Database, cipher: PiiCipher, kind: str, address: str
) -> Customer | None:
    """Exact lookup through the blind index; the address is normalized first (ValueError
    when it can't be)."""
    from omnihub.normalizer.addresses import normalize_identity

    ident = normalize_identity(Identity(kind=kind, address=address))
    async with db.read() as conn:
        customer_id = (
            await conn.execute(
                sa.select(identities.c.customer_id).where(
                    identities.c.kind == ident.kind,
                    identities.c.blind_index == cipher.blind_index(ident.kind, ident.address),
                )
            )
        ).scalar()
    return None if customer_id is None else await get_customer(db, cipher, customer_id)


async def _lock_customers(conn: AsyncConnection, *ids: str) -> dict[str, Any]:
    """Lock both customers (FOR UPDATE; SQLite's writer lock covers it) so a concurrent
    ingest can't add a conversation or message to them mid-merge."""
    rows = await conn.execute(
        sa.select(customers.c.id, customers.c.merged_into)
        .where(customers.c.id.in_(ids))
        .with_for_update()
    )
    found = {r.id: r for r in rows}
    for customer_id in ids:
        if customer_id not in found:
            raise NotFound(f"no customer with id {customer_id!r}")
    return found


async def merge_customers(db: Database, source_id: str, target_id: str, *, actor: str,
                          audit: Actor | None = None) -> str:
    """Merge `source_id` into `target_id`; return the merge id that `unmerge` takes."""
    if source_id == target_id:
        raise MergeError("a customer can't be merged into itself")
    now = datetime.now(UTC)
    merge_id = new_id()
    async with db.write() as conn:
        found = await _lock_customers(conn, source_id, target_id)
        for customer_id in (source_id, target_id):
            if found[customer_id].merged_into is not None:
                raise MergeError(
                    f"customer {customer_id} is already merged into "
                    f"{found[customer_id].merged_into}"
                )
        identity_ids = list(
            (
                await conn.execute(
                    sa.select(identities.c.id)
                    .where(identities.c.customer_id == source_id)
                    .order_by(identities.c.id)
                )
            ).scalars()
        )
        moved_conversations = (
            await conn.execute(
                sa.select(
                    conversations.c.id,
                    conversations.c.channel_id,
                    conversations.c.thread_key,
                    conversations.c.status,
                    conversations.c.open_key,
                )
                .where(conversations.c.customer_id == source_id)
                .order_by(conversations.c.id)
                .with_for_update()
            )
        ).all()
        message_ids = list(
            (
                await conn.execute(
                    sa.select(messages.c.id)
                    .where(messages.c.customer_id == source_id)
                    .order_by(messages.c.id)
                )
            ).scalars()
        )
        taken = set(
            (
                await conn.execute(
                    sa.select(conversations.c.open_key).where(
                        conversations.c.customer_id == target_id,
                        conversations.c.open_key.is_not(None),
                    )
                )
            ).scalars()
        )

        await conn.execute(
            sa.update(identities)
            .where(identities.c.customer_id == source_id)
            .values(customer_id=target_id)
        )
        updates = []
        for conv in moved_conversations:
            key = open_key(target_id, conv.channel_id, conv.thread_key)
            keep_open = (
                conv.open_key is not None and conv.status in OPEN_STATUSES and key not in taken
            )
            if keep_open:
                taken.add(key)
            updates.append({"b_id": conv.id, "b_key": key if keep_open else None})
        await _move_conversations(conn, updates, target_id, now)
        await conn.execute(
            sa.update(messages)
            .where(messages.c.customer_id == source_id)
            .values(customer_id=target_id)
        )
        await conn.execute(
            sa.update(customers)
            .where(customers.c.id == source_id)
            .values(merged_into=target_id, updated_at=now)
        )
        await conn.execute(
            sa.update(customers).where(customers.c.id == target_id).values(updated_at=now)
        )
        moved = {
            "identities": identity_ids,
            "conversations": [{"id": c.id, "open_key": c.open_key} for c in moved_conversations],
            "messages": message_ids,
        }
        await conn.execute(
            sa.insert(merges).values(
                id=merge_id,
                source_id=source_id,
                target_id=target_id,
                moved=moved,
                actor=actor,
                created_at=now,
                undone_at=None,
            )
        )
        await write_outbox(
            conn,
            [
                event_row(
                    "customer.merged",
                    {
                        "merge_id": merge_id,
                        "source_id": source_id,
                        "target_id": target_id,
                        "actor": actor,
                        "moved": {name: len(rows) for name, rows in moved.items()},
                    },
                    key=target_id,
                    now=now,
                )
            ],
        )
        if audit is not None:
            await write_audit(conn, audit, "customers.merge", "customer", source_id,
                              before={"customer": source_id},
                              after={"merged_into": target_id, "merge_id": merge_id}, now=now)
    return merge_id


async def _move_conversations(
    conn: AsyncConnection, updates: list[dict[str, Any]], customer_id: str, now: datetime
) -> None:
    if not updates:
        return
    await conn.execute(
        sa.update(conversations)
        .where(conversations.c.id == sa.bindparam("b_id"))
        .values(customer_id=customer_id, open_key=sa.bindparam("b_key"), updated_at=now),
        updates,
    )


async def unmerge(db: Database, merge_id: str, *, actor: str, audit: Actor | None = None) -> None:
    """Move exactly the rows a merge moved back to the source customer."""
    now = datetime.now(UTC)
    async with db.write() as conn:
        merge = (
            await conn.execute(sa.select(merges).where(merges.c.id == merge_id).with_for_update())
        ).first()
        if merge is None:
            raise NotFound(f"no merge with id {merge_id!r}")
        if merge.undone_at is not None:
            raise MergeError(
                f"merge {merge_id} was already undone at {merge.undone_at.isoformat()}"
            )
        source_id, target_id = merge.source_id, merge.target_id
        found = await _lock_customers(conn, source_id, target_id)
        if found[target_id].merged_into is not None:
            raise MergeError(
                f"customer {target_id} has since been merged into "
                f"{found[target_id].merged_into}; undo that merge first"
            )
        if found[source_id].merged_into != target_id:
            raise MergeError(f"customer {source_id} is no longer merged into {target_id}")

        moved = merge.moved
        for ids in _chunks(moved["identities"]):
            await conn.execute(
                sa.update(identities).where(identities.c.id.in_(ids)).values(customer_id=source_id)
            )
        recorded = {c["id"]: c["open_key"] for c in moved["conversations"]}
        updates = []
        for ids in _chunks(list(recorded)):
            rows = await conn.execute(
                sa.select(conversations.c.id, conversations.c.status)
                .where(conversations.c.id.in_(ids))
                .with_for_update()
            )
            updates += [
                {"b_id": r.id, "b_key": recorded[r.id] if r.status in OPEN_STATUSES else None}
                for r in rows
            ]
        await _move_conversations(conn, updates, source_id, now)
        for ids in _chunks(list(recorded)):
            await conn.execute(
                sa.update(messages)
                .where(messages.c.conversation_id.in_(ids))
                .values(customer_id=source_id)
            )
        await conn.execute(
            sa.update(customers)
            .where(customers.c.id == source_id)
            .values(merged_into=None, updated_at=now)
        )
        await conn.execute(sa.update(merges).where(merges.c.id == merge_id).values(undone_at=now))
        await write_outbox(
            conn,
            [
                event_row(
                    "customer.unmerged",
                    {
                        "merge_id": merge_id,
                        "source_id": source_id,
                        "target_id": target_id,
                        "actor": actor,
                    },
                    key=target_id,
                    now=now,
                )
            ],
        )
        if audit is not None:
            await write_audit(conn, audit, "customers.unmerge", "customer", source_id,
                              before={"merged_into": target_id, "merge_id": merge_id},
                              after={"customer": source_id}, now=now)
