"""Customer profiles in the store: the shop's orders, attribute merges, derived tags.

Orders are keyed by (customer, order id): a second push of the same order updates it, so
a shop may resend its whole order list after an outage. Every write first locks the
customer row (FOR UPDATE; SQLite's writer lock covers it), which serializes concurrent
pushes for one customer on every backend without relying on upsert dialects.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from omnihub.store.audit import Actor, write_audit
from omnihub.store.db import Database
from omnihub.store.errors import NotFound
from omnihub.store.tables import conversations, customer_orders, customer_profiles, customers

__all__ = [
    "Order",
    "OrderFields",
    "derived_tags_of",
    "due_customers",
    "list_orders",
    "load_facts",
    "merge_attributes",
    "merge_patch",
    "save_profile",
    "upsert_order",
]

_o = customer_orders.c
_p = customer_profiles.c


class OrderFields(BaseModel):
    """What the shop says about one order (validated by the caller)."""

    order_id: str
    status: str
    currency: str
    total: Decimal
    items: list[dict[str, Any]]
    placed_at: datetime
    updated_at: datetime | None = None


class Order(BaseModel):
    customer_id: str
    order_id: str
    status: str
    currency: str
    total: str  # decimal text, exactly as summed
    items: list[dict[str, Any]]
    placed_at: datetime
    shop_updated_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


def _aware(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


def _order(row: Mapping[str, Any]) -> Order:
    values = dict(row)
    for name in ("placed_at", "shop_updated_at", "created_at", "updated_at"):
        values[name] = _aware(values[name])
    return Order.model_validate(values)


async def _lock_customer(conn: AsyncConnection, customer_id: str) -> Any:
    row = (await conn.execute(sa.select(customers.c.id, customers.c.attributes)
                              .where(customers.c.id == customer_id).with_for_update())).first()
    if row is None:
        raise NotFound(f"no customer with id {customer_id!r}")
    return row


async def upsert_order(db: Database, customer_id: str, fields: OrderFields, *, actor: Actor,
                       now: datetime | None = None) -> tuple[Order, bool]:
    """Store or update one order; True when it was new. Audited either way."""
    now = now or datetime.now(UTC)
    values = {"status": fields.status, "currency": fields.currency,
              "total": format(fields.total, "f"), "items": fields.items,
              "placed_at": fields.placed_at, "shop_updated_at": fields.updated_at,
              "updated_at": now}
    key = (_o.customer_id == customer_id, _o.order_id == fields.order_id)
    async with db.write() as conn:
        await _lock_customer(conn, customer_id)
        row = (await conn.execute(sa.select(customer_orders).where(*key))).mappings().first()
        before = None if row is None else _order(row)
        if before is None:
            await conn.execute(sa.insert(customer_orders).values(
                customer_id=customer_id, order_id=fields.order_id, created_at=now, **values))
            after = Order(customer_id=customer_id, order_id=fields.order_id, created_at=now,
                          **values)
        else:
            await conn.execute(sa.update(customer_orders).where(*key).values(**values))
            after = before.model_copy(update=values)
        await write_audit(conn, actor, "customer.order", "customer", customer_id,
                          before=None if before is None else before.model_dump(mode="json"),
                          after=after.model_dump(mode="json"), now=now)
    return after, before is None


async def _family(conn: AsyncConnection, customer_id: str) -> list[str]:
    """The customer and those merged into it: their orders are this customer's now."""
    merged = (await conn.execute(sa.select(customers.c.id)
                                 .where(customers.c.merged_into == customer_id))).scalars()
    return [customer_id, *merged]


async def list_orders(db: Database, customer_id: str, *, limit: int = 50) -> list[Order]:
    """The customer's orders, newest first."""
    async with db.read() as conn:
        ids = await _family(conn, customer_id)
        rows = await conn.execute(sa.select(customer_orders).where(_o.customer_id.in_(ids))
                                  .order_by(_o.placed_at.desc(), _o.order_id).limit(limit))
        return [_order(r) for r in rows.mappings()]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge key by key, `null` removes a key, any
    other value (arrays too) replaces what was there."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


async def merge_attributes(db: Database, customer_id: str, patch: dict[str, Any], *,
                           actor: Actor) -> dict[str, Any]:
    """Merge `patch` into the customer's attributes; return them as they are now."""
    now = datetime.now(UTC)
    async with db.write() as conn:
        row = await _lock_customer(conn, customer_id)
        before = dict(row.attributes or {})
        after = merge_patch(before, patch)
        if after != before:
            await conn.execute(sa.update(customers).where(customers.c.id == customer_id)
                               .values(attributes=after, updated_at=now))
            await write_audit(conn, actor, "customer.attributes", "customer", customer_id,
                              before={"attributes": before}, after={"attributes": after},
                              now=now)
    return after


# ------------------------------------------------------------------- derived tags


async def load_facts(db: Database, customer_id: str, since: datetime | None
                     ) -> tuple[datetime, list[Any], list[Any]] | None:
    """(first seen, orders, conversations) since `since` (None: all), or None when the
    customer does not exist or was merged away."""
    async with db.read() as conn:
        created = (await conn.execute(
            sa.select(customers.c.created_at).where(customers.c.id == customer_id,
                                                    customers.c.merged_into.is_(None)))
        ).scalar()
        if created is None:
            return None
        ids = await _family(conn, customer_id)
        first_order = (await conn.execute(sa.select(sa.func.min(_o.placed_at))
                                          .where(_o.customer_id.in_(ids)))).scalar()
        order_q = sa.select(_o.placed_at, _o.status, _o.currency, _o.total).where(
            _o.customer_id.in_(ids))
        conv_q = sa.select(conversations.c.created_at, conversations.c.category,
                           conversations.c.skill_group).where(
            conversations.c.customer_id == customer_id)
        if since is not None:
            order_q = order_q.where(_o.placed_at > since)
            conv_q = conv_q.where(conversations.c.created_at > since)
        orders = (await conn.execute(order_q)).all()
        convs = (await conn.execute(conv_q)).all()
    first_seen = min(t for t in (_aware(created), _aware(first_order)) if t is not None)
    return first_seen, orders, convs


async def save_profile(db: Database, customer_id: str, *, tags: list[str],
                       facts: dict[str, Any], rules_sha256: str | None, now: datetime,
                       recheck_at: datetime | None) -> list[str] | None:
    """Store the derived tags; return the previous ones (None when there were none)."""
    values = {"derived_tags": tags, "facts": facts, "rules_sha256": rules_sha256,
              "computed_at": now, "recheck_at": recheck_at}
    async with db.write() as conn:
        await _lock_customer(conn, customer_id)
        previous = (await conn.execute(sa.select(_p.derived_tags)
                                       .where(_p.customer_id == customer_id))).first()
        if previous is None:
            await conn.execute(sa.insert(customer_profiles).values(customer_id=customer_id,
                                                                   **values))
            return None
        await conn.execute(sa.update(customer_profiles)
                           .where(_p.customer_id == customer_id).values(**values))
        return list(previous.derived_tags)


async def derived_tags_of(db: Database, customer_id: str) -> tuple[list[str], Any]:
    """The stored derived tags and the figures behind them ([] and {} before any)."""
    async with db.read() as conn:
        row = (await conn.execute(sa.select(_p.derived_tags, _p.facts)
                                  .where(_p.customer_id == customer_id))).first()
    return ([], {}) if row is None else (list(row.derived_tags), row.facts)


async def due_customers(db: Database, now: datetime, rules_sha256: str | None, *,
                        limit: int = 500) -> list[str]:
    """Profiles the clock should recompute: a window expired, or the rules changed."""
    stale = sa.false() if rules_sha256 is None else sa.or_(
        _p.rules_sha256.is_(None), _p.rules_sha256 != rules_sha256)
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(_p.customer_id)
            .where(sa.or_(_p.recheck_at <= now, stale))
            .order_by(_p.customer_id).limit(limit))
        return list(rows.scalars())


def window_start(now: datetime, longest: timedelta | None) -> datetime | None:
    return None if longest is None else now - longest
