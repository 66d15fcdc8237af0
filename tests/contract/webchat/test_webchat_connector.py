"""The connector's fan-out: `send` goes through the bus to the visitor's open widgets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from omnihub.connectors.base import ConnectorContext, OutboundMessage
from omnihub.connectors.errors import BadPayload
from omnihub.connectors.webchat.connector import WebchatConnector
from omnihub.connectors.webchat.settings import WebchatSettings
from omnihub.hub.bus import MemoryBus
from omnihub.normalizer.media import MediaStore
from omnihub.normalizer.schema import Identity, TextPart


class Inbox:
    def __init__(self) -> None:
        self.sid = "tab-1"
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def push(self, frame: dict[str, Any]) -> None:
        self.frames.put_nowait(frame)

    async def end(self) -> None:
        pass


@pytest.fixture
async def connector(tmp_path: Path) -> AsyncIterator[WebchatConnector]:
    bus = MemoryBus()
    await bus.start()
    async with aiohttp.ClientSession() as http:
        context = ConnectorContext(http=http, public_url="http://hub.test",
                                   media=MediaStore(tmp_path), extra={"bus": bus})
        chat = WebchatConnector(WebchatSettings(id="web", secret="s" * 16), context)
        await chat.start()
        await asyncio.sleep(0)  # the listeners subscribe
        yield chat
        await chat.stop()
    await bus.close()


def reply(recipient: Identity, buttons: list[str] | None = None) -> OutboundMessage:
    return OutboundMessage(message_id="01JREPLY", conversation_id="01JCONV", channel_id="web",
                           recipient=recipient, thread_key=None,
                           parts=[TextPart(text="Which size?")], author="agent:ann",
                           buttons=buttons)


async def test_send_reaches_the_recipients_widgets_with_quick_replies(
        connector: WebchatConnector) -> None:
    visitor = Identity(kind="webchat", address="v-1")
    mine, other = Inbox(), Inbox()
    connector.attach(visitor, mine)
    connector.attach(Identity(kind="webchat", address="v-2"), other)
    receipt = await connector.send(reply(visitor, buttons=["S", "M", "L"]))
    assert receipt.external_id == "01JREPLY"
    frame = await asyncio.wait_for(mine.frames.get(), 2)
    assert frame["type"] == "message"
    assert frame["message"]["buttons"] == ["S", "M", "L"]
    assert frame["message"]["author"] == "agent" and frame["message"]["direction"] == "out"
    await asyncio.sleep(0.05)
    assert other.frames.empty()


async def test_a_detached_widget_gets_nothing_and_send_still_succeeds(
        connector: WebchatConnector) -> None:
    visitor = Identity(kind="webchat", address="v-1")
    inbox = Inbox()
    connector.attach(visitor, inbox)
    connector.detach(visitor, inbox)
    assert connector.outlets == {}
    assert (await connector.send(reply(visitor))).external_id == "01JREPLY"
    await asyncio.sleep(0.05)
    assert inbox.frames.empty()


def test_a_verified_user_is_preferred_as_recipient(connector: WebchatConnector) -> None:
    ids = [Identity(kind="email", address="a@b.c"), Identity(kind="webchat", address="v-1"),
           Identity(kind="webchat-user", address="u-1", verified=True)]
    assert connector.pick_recipient(ids) == ids[2]
    assert connector.pick_recipient(ids[:2]) == ids[1]
    assert connector.pick_recipient(ids[:1]) is None


async def test_webhooks_are_refused_with_a_pointer_to_the_socket(
        connector: WebchatConnector) -> None:
    with pytest.raises(BadPayload, match="/chat/web/ws"):
        await connector.parse_webhook(None)  # type: ignore[arg-type]
