"""`POST /shop/webhook`: the shop's back office pushes orders and attributes, signed.

Signed like everything omnihub trusts (`Omnihub-Signature: t=<unix>,v1=<hmac>`, see
omnihub/hub/signing.py) with `profiles.shop_webhook.secret`; a missing or wrong signature
is 403 and nothing is stored. The customer is found by the shop's own customer id (an
identity of the API channel named in `profiles.shop_webhook.channel`), else by e-mail,
else by phone; a customer omnihub has never seen is 404 `unknown_customer` — the shop
pushes again once the customer has written in.

    {"customer": {"external_id": "C-1001", "email": "ann@example.com"},
     "order": {"order_id": "A-1", "status": "paid", "currency": "CNY", "total": "99.00",
               "placed_at": "2026-11-01T10:00:00Z", "items": [{"name": "Kettle"}]},
     "attributes": {"tier": "gold"}}
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from omnihub.hub import signing
from omnihub.hub.http import json_error, json_response
from omnihub.hub.runtime import HUB
from omnihub.inbox.params import InvalidInput
from omnihub.normalizer.schema import Customer
from omnihub.profiles.http import NewOrder, apply_order, checked_attributes
from omnihub.store import profiles as store
from omnihub.store.audit import Actor

__all__ = ["ShopEvent", "setup"]

log = logging.getLogger("omnihub.profiles")
PATH = "/shop/webhook"
ACTOR = Actor("shop", "system")
API_IDENTITY_KIND = "api"  # omnihub/connectors/api/parse.py: "<channel>:<external id>"


class ShopCustomer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_id: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, min_length=3, max_length=320)
    phone: str | None = Field(default=None, min_length=3, max_length=40)

    @model_validator(mode="after")
    def _one(self) -> ShopCustomer:
        if not (self.external_id or self.email or self.phone):
            raise ValueError("give at least one of external_id, email, phone")
        return self


class ShopEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer: ShopCustomer
    order: NewOrder | None = None
    attributes: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _something(self) -> ShopEvent:
        if self.order is None and self.attributes is None:
            raise ValueError("give `order`, `attributes` or both")
        return self


def setup(app: web.Application) -> None:
    app.router.add_post(PATH, receive)


async def _find(request: web.Request, who: ShopCustomer, channel: str | None
                ) -> Customer | None:
    found = request.app[HUB].store.find_customer
    lookups = []
    if who.external_id and channel:
        lookups.append((API_IDENTITY_KIND, f"{channel}:{who.external_id}"))
    if who.email:
        lookups.append(("email", who.email))
    if who.phone:
        lookups.append(("phone", who.phone))
    for kind, address in lookups:
        try:
            customer = await found(kind, address)
        except ValueError:  # an address that can't be normalized matches nobody
            continue
        if customer is not None:
            return customer
    return None


async def receive(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    config = hub.settings.profiles.shop_webhook
    if config is None:
        return json_error(404, "not_found", "the shop webhook is not configured "
                          "(profiles.shop_webhook in hub.yaml)")
    body = await request.read()
    try:
        signing.verify(config.secret, body, request.headers.get(signing.HEADER))
    except signing.SignatureError as exc:
        log.warning("shop webhook refused: %s", exc)
        return json_error(403, "invalid_signature", str(exc))
    try:
        event = ShopEvent.model_validate(orjson.loads(body))
        if event.attributes is not None:
            checked_attributes(event.attributes, "attributes")
    except orjson.JSONDecodeError as exc:
        return json_error(422, "invalid_input", f"not valid JSON: {exc}", field="(body)")
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in err["loc"]) or "(body)"
        return json_error(422, "invalid_input", err["msg"], field=field)
    except InvalidInput as exc:
        return json_error(422, "invalid_input", exc.message, field=exc.field)
    customer = await _find(request, event.customer, config.channel)
    if customer is None:
        return json_error(404, "unknown_customer", "no customer with that external id, "
                          "e-mail or phone; push again once the customer has written in")
    result: dict[str, Any] = {"customer_id": customer.id}
    if event.attributes is not None:
        result["attributes"] = await store.merge_attributes(hub.db, customer.id,
                                                            event.attributes, actor=ACTOR)
    if event.order is not None:
        order, created = await apply_order(request, customer.id, event.order, ACTOR)
        result.update(order=order, created=created)
    return json_response(result)
