"""A hub on a real port with two API channels, a stand-in for the shop that receives the
replies, and Debian's Chromium driven by Playwright (no browser download)."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import BrowserContext, async_playwright

from omnihub.hub.app import create_app
from omnihub.hub.runtime import HUB, Hub
from omnihub.hub.settings import load_hub_settings
from omnihub.store.tokens import create_token

from ..hub.conftest import SECRET, api_post, hub, make_hub, signed  # noqa: F401

CHROMIUM = "/usr/bin/chromium"  # scripts/install-test-deps.sh installs it
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Shop:
    """The customer's side of the API channel: records every reply the hub delivers."""

    def __init__(self) -> None:
        self.replies: list[dict[str, Any]] = []
        app = web.Application()
        app.router.add_post("/replies", self._receive)
        self.server = TestServer(app)

    async def _receive(self, request: web.Request) -> web.Response:
        self.replies.append(await request.json())
        return web.json_response({"id": f"delivered-{len(self.replies)}"})

    @property
    def reply_url(self) -> str:
        return str(self.server.make_url("/replies"))


class LiveHub:
    """A running hub and a way to post customer messages into it, signed like a shop app."""

    def __init__(self, runner: web.AppRunner, url: str) -> None:
        self.runner = runner
        self.url = url

    @property
    def hub(self) -> Hub:
        return self.runner.app[HUB]

    async def token(self, agent: str = "ann", role: str = "agent") -> str:
        return await create_token(self.hub.db, agent, role)

    async def api(self, method: str, path: str, body: Any = None, role: str = "admin") -> Any:
        """Call the agent API as `role` (the page's setup, not what the test checks)."""
        headers = {"Authorization": f"Bearer {await self.token('ada', role)}"}
        async with (aiohttp.ClientSession() as http,
                    http.request(method, f"{self.url}{path}", json=body, headers=headers) as resp):
            assert resp.status < 300, await resp.text()
            return await resp.json()

    async def customer_says(self, channel: str, external_id: str, text: str,
                            **customer: Any) -> str:
        """Post a customer's message to `/webhooks/<channel>`; the new message's id."""
        raw, headers = signed(api_post(external_id, text=text, **customer))
        async with (aiohttp.ClientSession() as http,
                    http.post(f"{self.url}/webhooks/{channel}", data=raw, headers=headers) as resp):
            assert resp.status == 200, await resp.text()
            return str((await resp.json())["messages"][0]["id"])


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    stand_in = Shop()
    await stand_in.server.start_server()
    yield stand_in
    await stand_in.server.close()


@pytest.fixture
async def live_hub(tmp_path: Path, shop: Shop) -> AsyncIterator[LiveHub]:
    port = free_port()
    channels = [{"id": "shop", "type": "api", "secret": SECRET, "reply_url": shop.reply_url},
                {"id": "app", "type": "api", "secret": SECRET}]
    config = {"data_dir": str(tmp_path / "data"), "server": {"port": port},
              "store": {"url": f"sqlite:///{tmp_path / 'hub.db'}"}, "bus": {"url": "memory://"},
              "channels": channels,
              # an open stream notices a gone client at its next heartbeat, and the
              # hub's shutdown waits for it: keep that short
              "inbox": {"sse_heartbeat_seconds": 0.5}}
    (tmp_path / "hub.yaml").write_text(json.dumps(config))
    runner = web.AppRunner(create_app(load_hub_settings(tmp_path / "hub.yaml")))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield LiveHub(runner, f"http://127.0.0.1:{port}")
    await runner.cleanup()


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    assert shutil.which(CHROMIUM), "Chromium is missing: run scripts/install-test-deps.sh"
    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1280, "height": 760})
        yield context
        await context.close()
