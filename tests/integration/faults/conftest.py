"""Fault fixtures: a Redis server of the test's own, an event receiver, polling helpers.

Each fault test breaks one real dependency (Redis, PostgreSQL, a provider, an IMAP server,
the media disk) while traffic flows, then checks that nothing acknowledged was lost.
The shared services of the machine are never broken: a test that must stop a server
starts its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ..hub.conftest import HubClient, api_post, hub_config, make_hub, signed  # noqa: F401
from ..webchat.conftest import make_chat  # noqa: F401

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def until(check: Callable[[], Awaitable[T | None] | T | None], *, what: str,
                timeout: float = 60.0, every: float = 0.1) -> T:
    """Poll `check` until it gives something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value) or isinstance(value, Awaitable):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(every)


def metric(text: str, name: str) -> float | None:
    """The value of an unlabelled (or first labelled) sample `name` in Prometheus text."""
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


class RedisServer:
    """A redis-server without persistence on a port of its own: killed and restarted at will
    (the machine's shared Redis is never touched)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is not installed"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return
            assert self.proc.poll() is None, "redis-server exited at start"
            time.sleep(0.05)
        raise AssertionError("redis-server did not answer within 30s")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save; its streams and groups are gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = RedisServer(workdir)
    server.start()
    yield server
    server.kill()


@dataclass
class EventReceiver:
    """An agent system's webhook endpoint: records every event it is sent (by event id)."""

    server: TestServer
    status: int = 200
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: int = 0
    #: cleared: requests wait at the door (an agent system that hangs) until it is set again
    open: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return str(self.server.make_url("/events"))


@pytest.fixture
async def event_receiver() -> AsyncIterator[EventReceiver]:
    box: dict[str, EventReceiver] = {}

    async def handle(request: web.Request) -> web.Response:
        rec = box["r"]
        body = await request.json()
        await rec.open.wait()
        rec.deliveries += 1
        if rec.status < 300:
            rec.events[body["id"]] = body
        return web.Response(status=rec.status)

    app = web.Application()
    app.router.add_post("/events", handle)
    server = TestServer(app)
    await server.start_server()
    box["r"] = EventReceiver(server)
    box["r"].open.set()
    yield box["r"]
    box["r"].open.set()
    await server.close()


@pytest.fixture
async def bot_api() -> AsyncIterator[Any]:
    from .bot_api import BotApiStandIn

    api = BotApiStandIn()
    api.server = TestServer(api.app())
    await api.server.start_server()
    yield api
    await api.server.close()
