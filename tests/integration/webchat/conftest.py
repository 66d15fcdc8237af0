"""A whole hub with a web chat channel, and a scripted widget speaking its WebSocket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from omnihub.hub.app import create_app
from omnihub.hub.runtime import HUB, Hub
from omnihub.hub.settings import load_hub_settings

CHAT_SECRET = "chat-secret-0123456789abcdef"
SHOP_KEY = "shop-identity-key-0123456789"


def write_config(tmp_path: Path, store_url: str, bus: dict[str, str] | None = None,
                 routing: Path | None = None, **webchat: Any) -> Path:
    """hub.yaml with a web chat channel `web` (JSON is valid YAML), and routing.yaml if given."""
    channel = {"id": "web", "type": "webchat", "secret": CHAT_SECRET,
               "identity_secret": SHOP_KEY, **webchat}
    config = {"data_dir": str(tmp_path / "data"), "store": {"url": store_url},
              "bus": bus or {"url": "memory://"}, "channels": [channel]}
    if routing is not None:
        config["routing"] = str(routing)
    path = tmp_path / "hub.yaml"
    path.write_text(json.dumps(config))
    return path


class Widget:
    """A scripted widget on one WebSocket: send frames, wait for the ones expected."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.welcome: dict[str, Any] = {}

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_str(orjson.dumps(frame).decode())

    async def recv(self, type: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
        """The next frame (of `type`, skipping others)."""
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.ws.receive()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    raise AssertionError(f"socket ended: {msg.type} {msg.data} {msg.extra}")
                frame = orjson.loads(msg.data)
                if type is None or frame["type"] == type:
                    return frame

    async def quiet(self, seconds: float = 0.3) -> list[dict[str, Any]]:
        """Every frame that arrives within `seconds` (to show nothing more came)."""
        frames = []
        try:
            async with asyncio.timeout(seconds):
                while True:
                    msg = await self.ws.receive()
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                    frames.append(orjson.loads(msg.data))
        except TimeoutError:
            pass
        return frames

    async def hello(self, token: str | None = None, user: dict[str, Any] | None = None,
                    last_id: str | None = None) -> dict[str, Any]:
        frame: dict[str, Any] = {"type": "hello"}
        if token:
            frame["token"] = token
        if user:
            frame["user"] = user
        await self.send(frame)
        self.welcome = await self.recv("welcome")
        await self.send({"type": "resume", "last_id": last_id})
        return await self.recv("history")

    async def say(self, text: str, client_id: str) -> dict[str, Any]:
        await self.send({"type": "message", "client_id": client_id, "text": text})
        return await self.recv("ack")

    @property
    def session(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.welcome['session']}"}


class ChatHub:
    def __init__(self, client: TestClient, app: web.Application) -> None:
        self.http = client
        self.app = app
        self._sockets: list[aiohttp.ClientWebSocketResponse] = []

    @property
    def hub(self) -> Hub:
        return self.app[HUB]

    async def widget(self, **headers: str) -> Widget:
        ws = await self.http.ws_connect("/chat/web/ws", headers=headers or None)
        self._sockets.append(ws)
        return Widget(ws)

    async def agent(self, role: str = "admin", agent: str = "ann") -> dict[str, str]:
        from omnihub.store.tokens import create_token

        token = await create_token(self.hub.db, agent, role)
        return {"Authorization": f"Bearer {token}"}

    async def reply(self, conversation_id: str, text: str, agent: dict[str, str]) -> dict[str, Any]:
        resp = await self.http.post(f"/api/v1/conversations/{conversation_id}/messages",
                                    json={"text": text}, headers=agent)
        assert resp.status == 201, await resp.text()
        return await resp.json()  # type: ignore[no-any-return]

    async def close_sockets(self) -> None:
        for ws in self._sockets:
            await ws.close()


@pytest.fixture
async def make_chat(tmp_path: Path, make_store_url: Any) -> AsyncIterator[Callable[..., Any]]:
    """Factory of hubs; they stop before make_store_url drops their databases."""
    clients: list[ChatHub] = []

    async def make(store_url: str, bus: dict[str, str] | None = None,
                   routing: Path | None = None, **webchat: Any) -> ChatHub:
        app = create_app(load_hub_settings(write_config(tmp_path, store_url, bus, routing,
                                                        **webchat)))
        client = TestClient(TestServer(app))
        await client.start_server()
        chat = ChatHub(client, app)
        clients.append(chat)
        return chat

    yield make
    for chat in clients:
        await chat.close_sockets()
        await chat.http.close()


@pytest.fixture
async def chat(make_chat, make_store_url) -> ChatHub:  # type: ignore[no-untyped-def]
    return await make_chat(await make_store_url("sqlite"))  # type: ignore[no-any-return]
