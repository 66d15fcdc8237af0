"""A cluster of real `omnihub serve` processes on one PostgreSQL database and one Redis,
with the stand-ins around it: an agent system's webhook receiver, the Telegram Bot API,
an API channel's reply endpoint, SSE readers and web chat visitors."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import json
import signal
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import redis.asyncio as redis
from aiohttp import web
from aiohttp.test_utils import TestServer

from omnihub.hub import signing

from ..hub.test_durability import free_port

API_SECRET = "cluster-api-secret-0123456789"
CHAT_SECRET = "cluster-chat-secret-0123456789"
HOOK_SECRET = "cluster-hook-secret-0123456789"
TG_TOKEN = "7012345678:AAHclusterTokenForTests_012345678"
TG_SECRET = "cluster-tg-secret-0123456789"
PII_KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()


def signature_ok(secret: str, body: bytes, header: str) -> bool:
    fields = dict(item.split("=", 1) for item in header.split(","))
    return signing.sign(secret, body, timestamp=int(fields["t"])) == header


# --- the stand-ins the hubs talk to -------------------------------------------------------

@dataclass
class Receiver:
    """An agent system's webhook endpoint: keeps every delivery, checks every signature.
    It turns every `fail_every`-th new event away once (503), so some go through the
    hubs' durable retries."""

    deliveries: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    fail_every: int = 5
    refused: set[str] = field(default_factory=set)
    _offered: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not signature_ok(HOOK_SECRET, body, request.headers.get(signing.HEADER, "t=0,v1=")):
            self.bad_signatures += 1
            return web.Response(status=401)
        event = orjson.loads(body)
        assert request.headers["Omnihub-Event-Id"] == event["id"]
        if event["id"] not in self.refused and event["id"] not in self.by_id():
            self._offered += 1
            if self._offered % self.fail_every == 0:
                self.refused.add(event["id"])
                return web.Response(status=503, text="try again later")
        self.deliveries.append(event)
        return web.json_response({"ok": True})

    def by_id(self) -> dict[str, dict[str, Any]]:
        return {event["id"]: event for event in self.deliveries}


@dataclass
class BotApi:
    """The Telegram Bot API, as much of it as a text reply needs: `sendMessage`. Its first
    answer is Telegram's flood refusal (429 with `retry_after`), which the hub retries."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    next_id: int = 9000

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await request.json() if request.content_type == "application/json" else dict(
            await request.post())
        if method != "sendMessage":
            return web.json_response({"ok": True, "result": True})
        if not self.refused:
            self.refused.append(params)
            return web.json_response({"ok": False, "error_code": 429,
                                      "description": "Too Many Requests: retry after 1",
                                      "parameters": {"retry_after": 1}}, status=429)
        self.sent.append(params)
        self.next_id += 1
        chat_id = int(params["chat_id"])
        return web.json_response({"ok": True, "result": {
            "message_id": self.next_id, "date": 1767270000,
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": 7012345678, "is_bot": True, "first_name": "Shop"},
            "text": params.get("text", "")}})


@dataclass
class ShopApp:
    """The API channel's `reply_url`: the shop's app receiving agents' answers."""

    replies: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (key, body)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        assert signature_ok(API_SECRET, body, request.headers[signing.HEADER])
        self.replies.append((request.headers["Idempotency-Key"], orjson.loads(body)))
        return web.json_response({"id": f"app-{len(self.replies)}"})


@dataclass
class Outside:
    """The servers of the world around the hubs, on one local port."""

    receiver: Receiver
    bot: BotApi
    shop: ShopApp
    url: str


@pytest.fixture
async def outside() -> AsyncIterator[Outside]:
    receiver, bot, shop = Receiver(), BotApi(), ShopApp()
    app = web.Application()
    app.router.add_post("/hooks", receiver.handle)
    app.router.add_post(f"/bot{TG_TOKEN}/{{method}}", bot.handle)
    app.router.add_post("/replies", shop.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield Outside(receiver, bot, shop, str(server.make_url("")).rstrip("/"))
    await server.close()


# --- the hub processes ----------------------------------------------------------------------

def hub_yaml(*, port: int, data_dir: Path, store_url: str, bus: dict[str, str],
             routing: Path, outside: str) -> dict[str, Any]:
    """One process's hub.yaml: every process of a cluster has the same channels, keys and
    receivers; only its port and local data directory differ."""
    return {
        "server": {"host": "127.0.0.1", "port": port},
        "data_dir": str(data_dir),
        "store": {"url": store_url},
        "bus": bus,
        "security": {"pii_key": PII_KEY},
        "routing": str(routing),
        "channels": [
            {"id": "shop", "type": "api", "secret": API_SECRET, "reply_url": f"{outside}/replies"},
            {"id": "tg", "type": "telegram", "token": TG_TOKEN, "secret_token": TG_SECRET,
             "api_base_url": outside, "max_per_chat_per_second": 100},
            {"id": "web", "type": "webchat", "secret": CHAT_SECRET},
        ],
        "inbox": {"webhooks": [{"url": f"{outside}/hooks", "secret": HOOK_SECRET,
                                "events": ["*"]}],
                  "webhook_retry": {"backoff_base_seconds": 0.5, "backoff_max_seconds": 2,
                                    "poll_seconds": 0.5},
                  "sse_heartbeat_seconds": 5},
        "outbox": {"backoff_base_seconds": 0.5, "backoff_max_seconds": 2},
        "limits": {"rate": {"webchat": {"per_second": 0}}},
    }


def _die_with_parent() -> None:
    """In the child: SIGTERM when the test run itself is killed, so no hub outlives it."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class HubProcess:
    """`python -m omnihub serve` in a child process."""

    def __init__(self, name: str, config: Path, port: int, log: Path) -> None:
        self.name, self.config, self.port, self.log = name, config, port, log
        self.url = f"http://127.0.0.1:{port}"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "omnihub", "serve", "--config", str(self.config),
                stdout=out, stderr=out, preexec_fn=_die_with_parent)

    async def ready(self, http: aiohttp.ClientSession, timeout: float = 60) -> None:
        assert self.proc is not None
        async with asyncio.timeout(timeout):
            while True:
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{self.url}/readyz") as resp:
                        if resp.status == 200:
                            return
                if self.proc.returncode is not None:
                    raise RuntimeError(f"{self.name} exited: {self.tail()}")
                await asyncio.sleep(0.1)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.terminate()
        try:
            await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


@dataclass
class Cluster:
    hubs: list[HubProcess]
    store_url: str
    redis_url: str
    prefix: str


@pytest.fixture
async def start_cluster(tmp_path: Path, make_store_url: Callable[[str], Awaitable[str]],
                        redis_url: str, outside: Outside
                        ) -> AsyncIterator[Callable[..., Awaitable[Cluster]]]:
    """Factory: `await start_cluster(3, routing=path)` starts the processes and waits for
    every one to be ready. Stopped (SIGTERM) after the test; its Redis keys are removed."""
    started: list[Cluster] = []

    async def start(processes: int, *, routing: Path) -> Cluster:
        store_url = await make_store_url("postgresql")
        prefix = f"t{uuid.uuid4().hex[:12]}"
        bus = {"url": redis_url, "stream_prefix": prefix}
        hubs = []
        for index in range(processes):
            port = free_port()
            config = tmp_path / f"hub-{index}.yaml"
            config.write_text(json.dumps(hub_yaml(
                port=port, data_dir=tmp_path / f"data-{index}", store_url=store_url, bus=bus,
                routing=routing, outside=outside.url)))
            hubs.append(HubProcess(f"hub-{index}", config, port, tmp_path / f"hub-{index}.log"))
        cluster = Cluster(hubs, store_url, redis_url, prefix)
        started.append(cluster)
        await asyncio.gather(*(hub.start() for hub in hubs))  # at once: they race to migrate
        async with aiohttp.ClientSession() as http:
            await asyncio.gather(*(hub.ready(http) for hub in hubs))
        return cluster

    yield start
    for cluster in started:
        await asyncio.gather(*(hub.stop() for hub in cluster.hubs))
        client = redis.Redis.from_url(cluster.redis_url)
        try:
            keys = [key async for key in client.scan_iter(match=f"{cluster.prefix}:*")]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


# --- clients of the hubs ----------------------------------------------------------------------

class SseReader:
    """`GET /api/v1/events` on one process, collecting every event it streams."""

    def __init__(self, http: aiohttp.ClientSession, url: str, token: str) -> None:
        self.http, self.url, self.token = http, url, token
        self.events: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Return once the stream is open (the hub answers only when it listens live)."""
        resp = await self.http.get(f"{self.url}/api/v1/events",
                                   headers={"Authorization": f"Bearer {self.token}"},
                                   timeout=aiohttp.ClientTimeout(total=None, sock_read=None))
        assert resp.status == 200, await resp.text()
        self._task = asyncio.create_task(self._read(resp))

    async def _read(self, resp: aiohttp.ClientResponse) -> None:
        data: list[str] = []
        async for raw in resp.content:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("data:"):
                data.append(line[5:].lstrip())
            elif not line and data:
                self.events.append(orjson.loads("\n".join(data)))
                data = []

    def ids(self) -> Counter[str]:
        return Counter(event["id"] for event in self.events)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class Visitor:
    """A web chat widget on one process's WebSocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.welcome: dict[str, Any] = {}

    @classmethod
    async def connect(cls, http: aiohttp.ClientSession, hub: HubProcess) -> Visitor:
        visitor = cls(await http.ws_connect(f"{hub.url}/chat/web/ws"))
        await visitor.send({"type": "hello"})
        visitor.welcome = await visitor.recv("welcome")
        await visitor.send({"type": "resume", "last_id": None})
        await visitor.recv("history")
        return visitor

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_str(orjson.dumps(frame).decode())

    async def recv(self, type: str, timeout: float = 30, **match: Any) -> dict[str, Any]:
        """The next frame of `type` (whose `message` has the fields in `match`)."""
        try:
            return await asyncio.wait_for(self._recv(type, match), timeout)
        except TimeoutError:
            raise AssertionError(f"no {type} frame {match} within {timeout}s; "
                                 f"got {self.frames[-5:]}") from None

    async def _recv(self, type: str, match: dict[str, Any]) -> dict[str, Any]:
        if True:
            while True:
                msg = await self.ws.receive()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    raise AssertionError(f"socket ended: {msg.type} {msg.data}")
                frame = orjson.loads(msg.data)
                self.frames.append(frame)
                if frame["type"] == type and all(
                        frame.get("message", {}).get(k) == v for k, v in match.items()):
                    return frame

    async def say(self, text: str, client_id: str) -> dict[str, Any]:
        await self.send({"type": "message", "client_id": client_id, "text": text})
        return await self.recv("ack")
