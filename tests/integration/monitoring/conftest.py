"""Monitoring fixtures: stand-in receivers for webhooks and an SMTP server for alert mail."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.controller import Controller
from multidict import CIMultiDict

from ..hub.conftest import HubClient, api_post, hub, hub_config, make_hub, signed  # noqa: F401


@dataclass
class Receiver:
    """An HTTP endpoint that records what it is sent and answers `status`."""

    server: TestServer
    status: int = 200
    statuses: dict[str, int] = field(default_factory=dict)  # by path, before `status`
    headers: dict[str, str] = field(default_factory=dict)
    received: list[tuple[CIMultiDict[str], bytes]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str = "/hook") -> str:
        return str(self.server.make_url(path))


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    app = web.Application()
    box: dict[str, Receiver] = {}

    async def handle(request: web.Request) -> web.Response:
        rec = box["r"]
        headers = CIMultiDict(request.headers)  # header names are case-insensitive
        headers[":path"] = request.path
        rec.received.append((headers, await request.read()))
        rec.arrived.set()
        return web.Response(status=rec.statuses.get(request.path, rec.status),
                            headers=rec.headers)

    app.router.add_post("/{tail:.*}", handle)
    server = TestServer(app)
    await server.start_server()
    box["r"] = Receiver(server)
    yield box["r"]
    await server.close()


class Mailbox:
    """aiosmtpd handler: keeps every message it accepts, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Smtp:
    host: str
    port: int
    mailbox: Mailbox


@pytest.fixture
def smtp_server() -> Iterator[Smtp]:
    """A real SMTP server (aiosmtpd, in its own thread) on a free local port."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield Smtp("127.0.0.1", port, mailbox)
    finally:
        controller.stop()
