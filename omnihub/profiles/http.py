"""Customer profiles over the agent API: the shop's attributes and orders, and derived tags.

`PUT /customers/{id}/attributes` merges (RFC 7396: keys merge, `null` removes one), so
a shop can push only what changed without erasing what an agent or another system set.
`POST /customers/{id}/orders` is idempotent by (customer, order id): posting the same
order again updates it (201 the first time, 200 after). A merged-away customer id is
followed to the customer it was merged into, as everywhere in the API.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from omnihub.hub.http import json_response
from omnihub.hub.runtime import HUB
from omnihub.inbox.context import actor_of
from omnihub.inbox.params import InvalidInput, UtcTime, json_body, query_limit
from omnihub.normalizer.schema import Customer
from omnihub.store import NotFound
from omnihub.store import profiles as store
from omnihub.store.audit import Actor

__all__ = ["NewOrder", "OrderItem", "OrderList", "apply_order", "setup"]

Text = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f]*$")]
Money = Annotated[Decimal, Field(ge=0, le=Decimal("1e12"), max_digits=20, decimal_places=6)]
MAX_ATTRIBUTES_BYTES = 64 * 1024


class OrderItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text
    sku: Text | None = None
    quantity: int = Field(default=1, ge=1, le=1_000_000)
    unit_price: Money | None = None


class NewOrder(BaseModel):
    """One order as the shop knows it; `total` in `currency` (ISO 4217), as a decimal."""

    model_config = ConfigDict(extra="forbid")

    order_id: Annotated[str, StringConstraints(min_length=1, max_length=128,
                                               pattern=r"^[^\x00-\x1f]*$")]
    status: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")] = Field(
        description="e.g. placed, paid, shipped, delivered, returned, refunded, cancelled")
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    total: Money
    items: list[OrderItem] = Field(default_factory=list, max_length=500)
    placed_at: UtcTime
    updated_at: UtcTime | None = None


class OrderList(BaseModel):
    items: list[store.Order]


def setup(app: web.Application) -> None:
    r = app.router
    r.add_put("/api/v1/customers/{id}/attributes", put_attributes)
    r.add_get("/api/v1/customers/{id}/orders", get_orders)
    r.add_post("/api/v1/customers/{id}/orders", post_order)


async def _customer(request: web.Request) -> Customer:
    customer_id = request.match_info["id"]
    customer = await request.app[HUB].store.get_customer(customer_id)
    if customer is None:
        raise NotFound(f"no customer with id {customer_id!r}")
    return customer


def checked_attributes(data: Any, field: str = "(body)") -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidInput(field, "must be a JSON object of attributes")
    if len(orjson.dumps(data)) > MAX_ATTRIBUTES_BYTES:
        raise InvalidInput(field, f"attributes may take at most {MAX_ATTRIBUTES_BYTES} bytes")
    return data


async def put_attributes(request: web.Request) -> web.Response:
    """Merge the body (a JSON object) into the customer's attributes; the customer after."""
    try:
        data = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise InvalidInput("(body)", f"not valid JSON: {exc}") from None
    patch = checked_attributes(data)
    customer = await _customer(request)
    await store.merge_attributes(request.app[HUB].db, customer.id, patch,
                                 actor=actor_of(request))
    return json_response(await request.app[HUB].store.get_customer(customer.id))


async def get_orders(request: web.Request) -> web.Response:
    customer = await _customer(request)
    orders = await store.list_orders(request.app[HUB].db, customer.id,
                                     limit=query_limit(request))
    return json_response(OrderList(items=orders))


async def apply_order(request: web.Request, customer_id: str, order: NewOrder, actor: Actor
                      ) -> tuple[store.Order, bool]:
    """Store an order and recompute the customer's derived tags (the API and the webhook)."""
    hub = request.app[HUB]
    fields = store.OrderFields(
        order_id=order.order_id, status=order.status, currency=order.currency,
        total=order.total, items=[i.model_dump(mode="json", exclude_none=True)
                                  for i in order.items],
        placed_at=order.placed_at, updated_at=order.updated_at)
    stored, created = await store.upsert_order(hub.db, customer_id, fields, actor=actor)
    if hub.profiles is not None:
        await hub.profiles.recompute(customer_id)
    return stored, created


async def post_order(request: web.Request) -> web.Response:
    order = await json_body(request, NewOrder)
    customer = await _customer(request)
    stored, created = await apply_order(request, customer.id, order, actor_of(request))
    return json_response(stored, status=201 if created else 200)
