"""Stand-ins at the edge of the hub: the shop's reply_url and an agent system's webhook.

Both speak what the real receivers get (signed JSON POSTs), verify the signature over the
raw body before trusting it, and record every delivery as it arrived, duplicates included:
the test dedupes them itself, the way a receiver would (by `Idempotency-Key` for replies,
by `Omnihub-Event-Id` for events).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass

import orjson
from aiohttp import web

from omnihub.hub import signing


@dataclass(frozen=True, slots=True)
class ReplyDelivery:
    idempotency_key: str
    message_id: str
    conversation_id: str
    text: str


@dataclass(frozen=True, slots=True)
class EventDelivery:
    event_id: str
    type: str
    data_id: str | None


class _Receiver:
    """A local aiohttp server on a free port; `url` is where the hub posts."""

    path = "/"

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.rejected = 0  # bad signature or shape: the hub never sends those

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(self.path, self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}{self.path}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        raise NotImplementedError


class ReplyProvider(_Receiver):
    """The shop's `reply_url`: acknowledges each reply with its own id after a short,
    seeded delay, so that some kills land while a send is in flight; refuses a seeded
    share of them with a 503, so that retry jobs are in flight too."""

    path = "/omnihub/replies"

    def __init__(self, secret: str, rng: random.Random, *, max_delay: float = 0.03,
                 fail_rate: float = 0.0) -> None:
        super().__init__()
        self.secret = secret
        self.rng = rng
        self.max_delay = max_delay
        self.fail_rate = fail_rate
        self.refused = 0
        self.deliveries: list[ReplyDelivery] = []

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            signing.verify(self.secret, body, request.headers.get(signing.HEADER))
            data = orjson.loads(body)
            delivery = ReplyDelivery(request.headers["Idempotency-Key"], data["message_id"],
                                     data["conversation_id"], data["text"])
        except (signing.SignatureError, orjson.JSONDecodeError, KeyError, TypeError):
            self.rejected += 1
            return web.json_response({"error": "bad request"}, status=400)
        await asyncio.sleep(self.rng.uniform(0, self.max_delay))
        if self.rng.random() < self.fail_rate:
            self.refused += 1
            return web.json_response({"error": "try again"}, status=503)
        self.deliveries.append(delivery)  # the provider has it now, whatever the hub sees
        return web.json_response({"id": f"shop-{delivery.idempotency_key}"})

    def keys(self) -> set[str]:
        return {d.idempotency_key for d in self.deliveries}

    def duplicates(self) -> int:
        return len(self.deliveries) - len(self.keys())

    def most_deliveries(self) -> int:
        counts = Counter(d.idempotency_key for d in self.deliveries)
        return max(counts.values(), default=0)


class WebhookReceiver(_Receiver):
    """An agent system subscribed to `inbox.webhooks`: every event, signed."""

    path = "/agent-system/events"

    def __init__(self, secret: str, rng: random.Random, *, fail_rate: float = 0.0) -> None:
        super().__init__()
        self.secret = secret
        self.rng = rng
        self.fail_rate = fail_rate
        self.refused = 0
        self.deliveries: list[EventDelivery] = []

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            signing.verify(self.secret, body, request.headers.get(signing.HEADER))
            event = orjson.loads(body)
            event_id = request.headers["Omnihub-Event-Id"]
            if event["id"] != event_id:
                raise KeyError("Omnihub-Event-Id")
            data = event.get("data") or {}
            kind = event["type"]
            if kind == "message.status":  # one event per step: `message.status:sent`
                kind = f"{kind}:{data['status']}"
            message_id = data.get("message_id") if "message_id" in data else data.get("id")
            if self.rng.random() < self.fail_rate:
                self.refused += 1
                return web.json_response({"error": "try again"}, status=500)
            self.deliveries.append(EventDelivery(event_id, kind, message_id))
        except (signing.SignatureError, orjson.JSONDecodeError, KeyError, TypeError):
            self.rejected += 1
            return web.json_response({"error": "bad request"}, status=400)
        return web.json_response({"ok": True})

    def unique(self) -> dict[str, EventDelivery]:
        """Deduplicated by event id, as the receiver is told to."""
        return {d.event_id: d for d in self.deliveries}

    def duplicates(self) -> int:
        return len(self.deliveries) - len(self.unique())
