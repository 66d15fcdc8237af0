"""The widget in a real headless Chromium (Debian's, via Playwright's executable_path):
chat, upload an image, see the agent's reply and the read receipt, survive a restart;
off hours, leave a message through the form and answer a quick reply."""

from __future__ import annotations

import asyncio
import io
import json
import re
import shutil
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from PIL import Image
from playwright.async_api import BrowserContext, Page, async_playwright, expect

from omnihub.connectors.base import OutboundMessage
from omnihub.hub.app import create_app
from omnihub.hub.runtime import HUB, open_hub
from omnihub.hub.settings import HubSettings, load_hub_settings
from omnihub.normalizer.ids import new_id
from omnihub.normalizer.schema import TextPart
from omnihub.store import Store
from omnihub.store.tokens import create_token

from .conftest import CHAT_SECRET
from .test_webchat_hours import SATURDAY_NOON, SHOP_HOURS

CHROMIUM = "/usr/bin/chromium"  # scripts/install-test-deps.sh installs it
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT = Path("/tmp/omnihub-webchat-widget.png")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveHub:
    """A hub on a real port that can be stopped and started again on the same database."""

    def __init__(self, settings: HubSettings) -> None:
        self.settings = settings
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return self.settings.server.public_url

    async def start(self) -> None:
        self.runner = web.AppRunner(create_app(self.settings))
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.settings.server.port).start()

    async def stop(self) -> None:
        assert self.runner is not None
        await self.runner.cleanup()
        self.runner = None

    @property
    def app(self) -> web.Application:
        assert self.runner is not None
        return self.runner.app


def live_settings(tmp_path: Path, **extra: object) -> HubSettings:
    config = {"data_dir": str(tmp_path / "data"), "server": {"port": free_port()},
              "store": {"url": f"sqlite:///{tmp_path / 'hub.db'}"}, "bus": {"url": "memory://"},
              "channels": [{"id": "web", "type": "webchat", "secret": CHAT_SECRET,
                            "title": "Demo Shop support"}], **extra}
    (tmp_path / "hub.yaml").write_text(json.dumps(config))
    return load_hub_settings(tmp_path / "hub.yaml")


@pytest.fixture
async def live_hub(tmp_path: Path) -> AsyncIterator[LiveHub]:
    hub = LiveHub(live_settings(tmp_path))
    await hub.start()
    yield hub
    if hub.runner is not None:
        await hub.stop()


@pytest.fixture
async def closed_hub(tmp_path: Path) -> AsyncIterator[LiveHub]:
    """The shop of test_webchat_hours.py on a Saturday, when its web team is closed."""
    hub = LiveHub(live_settings(tmp_path, routing=str(SHOP_HOURS)))
    await hub.start()
    hub.app[HUB].connectors["web"].clock = lambda: SATURDAY_NOON  # type: ignore[attr-defined]
    yield hub
    if hub.runner is not None:
        await hub.stop()


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    assert shutil.which(CHROMIUM), "Chromium is missing: run scripts/install-test-deps.sh"
    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 900, "height": 640})
        yield context
        await context.close()


def photo() -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", (640, 420), (250, 200, 120))
    for x in range(200, 440):
        for y in range(120, 300):
            image.putpixel((x, y), (40, 90, 200))
    image.save(out, "PNG")
    return out.getvalue()


async def agent_headers(hub: LiveHub) -> dict[str, str]:
    return {"Authorization": f"Bearer {await create_token(hub.app[HUB].db, 'ann', 'admin')}"}


async def only_conversation(hub: LiveHub) -> str:
    page = await hub.app[HUB].store.list_conversations(channel_id="web")
    assert len(page.items) == 1
    return page.items[0].id


async def test_chat_in_a_real_browser(live_hub: LiveHub, browser: BrowserContext) -> None:
    page: Page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{live_hub.url}/chat/demo")
    await page.locator(".launcher").click()
    await expect(page.locator(".status")).to_have_text("Online")
    await expect(page.locator(".title")).to_have_text("Demo Shop support")

    await page.locator(".input").fill("Hi! Where is my order #1001? 📦")
    await page.locator(".input").press("Enter")
    mine = page.locator(".visitor[data-id]")
    await expect(mine.first).to_contain_text("Where is my order #1001? 📦")
    await expect(mine.first.locator(".meta")).to_have_text("Sent")

    await page.locator(".file").set_input_files(
        files=[{"name": "parcel.png", "mimeType": "image/png", "buffer": photo()}])
    image = page.locator(".visitor[data-id] img")
    await expect(image).to_have_attribute("src", re.compile(r"^blob:"))
    assert await image.evaluate("img => img.complete && img.naturalWidth") == 640

    conversation = await only_conversation(live_hub)
    agent = await agent_headers(live_hub)
    async with aiohttp.ClientSession(live_hub.url) as http:
        resp = await http.post(f"/api/v1/conversations/{conversation}/messages",
                               json={"text": "It left our warehouse today 🚚"}, headers=agent)
        assert resp.status == 201
        reply_id = (await resp.json())["id"]
    await expect(page.locator(".agent", has_text="It left our warehouse today")).to_have_count(1)
    await expect(mine.first.locator(".meta")).to_have_text("Read")  # the agent answered it
    store = live_hub.app[HUB].store
    await until_read(store, reply_id)  # the visitor's widget told the hub it was seen

    # restart the hub on the same database; an agent answers while the widget is away
    started = time.monotonic()
    await live_hub.stop()  # open sockets are closed (1012), not waited out for a minute
    assert time.monotonic() - started < 10
    await expect(page.locator(".status")).to_have_text("Reconnecting…")
    async with open_hub(live_hub.settings) as offline:
        await offline.store.queue_reply(conversation, [{"kind": "text",
                                        "text": "Sent while you were away"}], author="agent:ann")
    await live_hub.start()
    await expect(page.locator(".status")).to_have_text("Online", timeout=20_000)
    await expect(page.locator(".agent", has_text="Sent while you were away")).to_have_count(1)
    await expect(page.locator(".agent", has_text="It left our warehouse today")).to_have_count(1)
    await expect(page.locator(".visitor[data-id]")).to_have_count(2)  # nothing shown twice

    await page.screenshot(path=str(SCREENSHOT))
    assert errors == []


async def until_read(store: Store, message_id: str) -> None:
    async with asyncio.timeout(5):
        while (await store.get_message(message_id)).status != "read":  # type: ignore[union-attr]
            await asyncio.sleep(0.05)


async def test_off_hours_leave_a_message_and_a_quick_reply(closed_hub: LiveHub,
                                                           browser: BrowserContext) -> None:
    page: Page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{closed_hub.url}/chat/demo")
    await page.locator(".launcher").click()
    await expect(page.locator(".status")).to_have_text("Away")
    await expect(page.locator(".notice")).to_have_text("We're closed; back at 2026-03-09 09:00.")
    await expect(page.locator("form.compose")).to_be_hidden()

    away = page.locator("form.away")
    await away.locator(".name").fill("Nina Berg")
    await away.locator(".contact").fill("not a contact")
    await away.locator(".text").fill("Do you ship to Norway? 🇳🇴")
    await away.locator("button[type=submit]").click()
    await expect(away.locator(".problem")).to_contain_text("contact")
    assert (await closed_hub.app[HUB].store.list_conversations(channel_id="web")).items == []

    await away.locator(".contact").fill("nina@example.com")
    await away.locator("button[type=submit]").click()
    await expect(page.locator(".note", has_text="Thanks! We'll get back to you.")).to_have_count(1)
    await expect(away).to_have_count(0)
    await expect(page.locator("form.compose")).to_be_visible()
    left = page.locator(".visitor[data-id]").first
    await expect(left).to_contain_text("Do you ship to Norway? 🇳🇴")
    await expect(left).to_contain_text("👤 Nina Berg nina@example.com")

    hub = closed_hub.app[HUB]
    conversation_id = await only_conversation(closed_hub)
    stored = next(m for m in (await hub.store.conversation_messages(conversation_id)).items
                  if m.direction == "in")
    assert stored.parts[1].model_dump(exclude_none=True) == {  # type: ignore[union-attr]
        "kind": "contact", "name": "Nina Berg", "email": "nina@example.com"}
    assert await hub.store.find_customer("email", "nina@example.com") is None

    # quick replies: an agent message with buttons; a click sends the button's text
    customer = await hub.store.get_customer(stored.customer_id)
    assert customer is not None
    await hub.connectors["web"].send(OutboundMessage(
        message_id=new_id(), conversation_id=conversation_id, channel_id="web",
        recipient=customer.identities[0], thread_key=None,
        parts=[TextPart(text="Which country exactly?")], author="agent:ann",
        buttons=["Norway", "Sweden"]))
    await expect(page.locator(".buttons button")).to_have_count(2)
    await page.locator(".buttons button", has_text="Norway").click()
    await expect(page.locator(".buttons")).to_have_count(0)
    await expect(page.locator(".visitor[data-id]", has_text=re.compile(r"^Norway"))).to_have_count(1)
    texts = [m.parts[0].text for m in  # type: ignore[union-attr]
             (await hub.store.conversation_messages(conversation_id)).items if m.direction == "in"]
    assert sorted(texts) == ["Do you ship to Norway? 🇳🇴", "Norway"]
    assert errors == []
