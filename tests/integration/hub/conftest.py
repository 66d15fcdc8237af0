"""A whole hub in the test's event loop, on a fresh database, behind aiohttp's test client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from omnihub.hub import signing
from omnihub.hub.runtime import HUB, Hub

SECRET = "test-secret-0123456789abcdef"


def hub_config(store_url: str, *, reply_url: str | None = None,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A hub.yaml mapping with one API channel, `shop`, signed with SECRET."""
    channel: dict[str, Any] = {"id": "shop", "type": "api", "secret": SECRET}
    if reply_url:
        channel["reply_url"] = reply_url
    return {"store": {"url": store_url}, "channels": [channel], **(extra or {})}


def signed(body: dict[str, Any] | bytes, *, secret: str = SECRET,
           timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return raw, {signing.HEADER: signing.sign(secret, raw, timestamp=timestamp),
                 "Content-Type": "application/json"}


def api_post(external_id: str, customer: str = "c-1", text: str = "hello", **customer_fields: Any) -> dict[str, Any]:
    return {"external_id": external_id, "customer": {"external_id": customer, **customer_fields},
            "text": text}


class HubClient:
    """The test's view of a running hub: HTTP client plus the Hub object behind it."""

    def __init__(self, client: TestClient, app: web.Application) -> None:
        self.http = client
        self.app = app

    @property
    def hub(self) -> Hub:
        return self.app[HUB]

    async def post_message(self, body: dict[str, Any], **kw: Any):  # type: ignore[no-untyped-def]
        raw, headers = signed(body, **kw)
        return await self.http.post("/webhooks/shop", data=raw, headers=headers)

    async def token(self, role: str = "admin", agent: str = "ann") -> dict[str, str]:
        from omnihub.store.tokens import create_token

        token = await create_token(self.hub.db, agent, role)
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def make_hub(start_hub: Callable[..., Any]) -> Callable[..., Any]:
    """Factory: a hub on `store_url` with the `shop` API channel (see `hub_config`)."""

    async def make(store_url: str, **kw: Any) -> HubClient:
        client = await start_hub(hub_config(store_url, **kw))
        return HubClient(client, client.app)

    return make


@pytest.fixture
async def hub(make_hub, make_store_url) -> AsyncIterator[HubClient]:  # type: ignore[no-untyped-def]
    yield await make_hub(await make_store_url("sqlite"))
