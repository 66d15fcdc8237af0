"""Webhook subscriptions made through the API: create, list, read, change, delete — audited.

The secret is written encrypted and read back only by the hub that signs with it; the API
shows it once, in the answer to the create call (the way Stripe and GitHub do), and never
again. The audit log records changes without it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from omnihub.normalizer.ids import new_id
from omnihub.store.audit import Actor, write_audit
from omnihub.store.crypto import PiiCipher
from omnihub.store.db import Database
from omnihub.store.errors import NotFound
from omnihub.store.tables import webhook_subscriptions

__all__ = ["StoredSubscription", "create_subscription", "delete_subscription",
           "get_subscription", "list_subscriptions", "update_subscription"]

_w = webhook_subscriptions.c
_PURPOSE = "webhook_secret"  # binds the ciphertext to this column (crypto's associated data)


class StoredSubscription(BaseModel):
    """A subscription as the API shows it: everything but the secret."""

    id: str
    url: str
    events: list[str]
    description: str | None = None
    active: bool
    created_by: str
    created_at: datetime
    updated_at: datetime


def _public(row: Any) -> StoredSubscription:
    return StoredSubscription.model_validate({k: v for k, v in dict(row).items()
                                              if k != "secret_enc"})


async def list_subscriptions(db: Database, cipher: PiiCipher) -> list[tuple[StoredSubscription, str]]:
    """Every subscription with its secret, oldest first: what the hub delivers to."""
    async with db.read() as conn:
        rows = (await conn.execute(sa.select(webhook_subscriptions)
                                   .order_by(_w.created_at, _w.id))).mappings().all()
    return [(_public(row), cipher.decrypt(row["secret_enc"], _PURPOSE)) for row in rows]


async def _row(conn: Any, subscription_id: str) -> Any:
    row = (await conn.execute(sa.select(webhook_subscriptions)
                              .where(_w.id == subscription_id))).mappings().first()
    if row is None:
        raise NotFound(f"no webhook subscription with id {subscription_id!r}")
    return row


async def get_subscription(db: Database, subscription_id: str) -> StoredSubscription:
    async with db.read() as conn:
        return _public(await _row(conn, subscription_id))


async def create_subscription(db: Database, cipher: PiiCipher, *, url: str, secret: str,
                              events: list[str], description: str | None,
                              actor: Actor) -> StoredSubscription:
    now = datetime.now(UTC)
    created = StoredSubscription(id=new_id(), url=url, events=events, description=description,
                                 active=True, created_by=actor.agent, created_at=now,
                                 updated_at=now)
    async with db.write() as conn:
        await conn.execute(sa.insert(webhook_subscriptions).values(
            **created.model_dump(), secret_enc=cipher.encrypt(secret, _PURPOSE)))
        await write_audit(conn, actor, "webhook.create", "webhook_subscription", created.id,
                          before=None, after=created.model_dump(mode="json"), now=now)
    return created


async def update_subscription(db: Database, cipher: PiiCipher, subscription_id: str,
                              fields: dict[str, Any], *, actor: Actor) -> StoredSubscription:
    """Change url, events, description, active and/or the secret (`secret` in fields)."""
    now = datetime.now(UTC)
    async with db.write() as conn:
        before = _public(await _row(conn, subscription_id))
        secret = fields.pop("secret", None)
        changes = {k: v for k, v in fields.items() if getattr(before, k) != v}
        if not changes and secret is None:
            return before
        values: dict[str, Any] = {**changes, "updated_at": now}
        if secret is not None:
            values["secret_enc"] = cipher.encrypt(secret, _PURPOSE)
        await conn.execute(sa.update(webhook_subscriptions)
                           .where(_w.id == subscription_id).values(**values))
        after = before.model_copy(update={**changes, "updated_at": now})
        audited = after.model_dump(mode="json")
        if secret is not None:
            audited["secret"] = "(changed)"
        await write_audit(conn, actor, "webhook.update", "webhook_subscription",
                          subscription_id, before=before.model_dump(mode="json"),
                          after=audited, now=now)
    return after


async def delete_subscription(db: Database, subscription_id: str, *, actor: Actor) -> None:
    async with db.write() as conn:
        before = _public(await _row(conn, subscription_id))
        await conn.execute(sa.delete(webhook_subscriptions).where(_w.id == subscription_id))
        await write_audit(conn, actor, "webhook.delete", "webhook_subscription",
                          subscription_id, before=before.model_dump(mode="json"), after=None)
