"""Inbox fixtures: a running hub (the hub tests' fixtures) with a customer conversation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from ..hub.conftest import HubClient, api_post, make_hub  # noqa: F401

__all__ = ["Desk", "HubClient", "api_post"]


@dataclass
class Desk:
    """A hub with one conversation and a token per role (agent `ann`, senior `sam`,
    supervisor `sue`, admin `ada`)."""

    hub: HubClient
    conversation_id: str
    auth: dict[str, dict[str, str]]

    async def call(self, method: str, path: str, role: str = "agent", **kw: Any) -> Any:
        return await self.hub.http.request(method, path, headers=self.auth[role], **kw)

    async def ok(self, method: str, path: str, role: str = "agent", **kw: Any) -> Any:
        resp = await self.call(method, path, role, **kw)
        assert resp.status < 300, (resp.status, await resp.text())
        return await resp.json() if resp.status != 204 else None

    async def new_conversation(self, external_id: str, customer: str, text: str = "hello") -> str:
        resp = await self.hub.post_message(api_post(external_id, customer=customer, text=text))
        assert resp.status == 200, await resp.text()
        message_id = (await resp.json())["messages"][0]["id"]
        msg = await self.hub.hub.store.get_message(message_id)
        assert msg is not None
        return msg.conversation_id


AGENTS = {"agent": "ann", "senior": "sam", "supervisor": "sue", "admin": "ada"}


async def open_desk(hub: HubClient) -> Desk:
    auth = {role: await hub.token(role, agent) for role, agent in AGENTS.items()}
    desk = Desk(hub, "", auth)
    desk.conversation_id = await desk.new_conversation("m-1", "c-1", "where is my parcel?")
    return desk


@pytest.fixture
async def desk(make_hub, make_store_url) -> AsyncIterator[Desk]:  # type: ignore[no-untyped-def]  # noqa: F811
    yield await open_desk(await make_hub(await make_store_url("sqlite")))
