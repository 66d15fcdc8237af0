"""The latency benchmark's network ends: the open-loop sender, the SSE client and the
webhook receiver, all in the bench process so they share one monotonic clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
import orjson
from aiohttp import web

from omnihub.hub import signing
from omnihub.hub.bench.latency_stats import ACK, SSE, WEBHOOK, Recorder
from omnihub.hub.bench.payloads import build_body, customer_ref

MESSAGE_EVENT = "message.received"


def external_id(tag: str, seq: int) -> str:
    return f"{tag}-{seq:08d}"


def seq_of(tag: str, event: dict) -> int | None:
    """The sequence number of one of this run's messages in an event, else None."""
    if event.get("type") != MESSAGE_EVENT:
        return None
    ext = (event.get("data") or {}).get("external_id") or ""
    prefix = f"{tag}-"
    if not ext.startswith(prefix):
        return None
    try:
        return int(ext[len(prefix):])
    except ValueError:
        return None


def message_body(tag: str, seq: int, scheduled: float, customers: int, filler: str) -> bytes:
    """A signed-channel body whose text carries the sequence and scheduled send time."""
    text = f"seq={seq} scheduled={scheduled:.6f} {filler}"
    return build_body(external_id(tag, seq), customer_ref(seq % customers), text)


async def send_open_loop(
    session: aiohttp.ClientSession, url: str, *, secret: str, rate: float, warmup: float,
    duration: float, recorder: Recorder, body_for: Callable[[int, float], bytes],
) -> list[float]:
    """POST at fixed scheduled times, never waiting for answers; returns actual send times.

    A late sender fires every overdue message at once; the delay still counts from the
    schedule, so the sender's own lag shows in the figures instead of hiding.
    """
    total = int(rate * (warmup + duration))
    warm_count = int(rate * warmup)
    start = time.monotonic() + 0.05
    sent: list[float] = []
    tasks: set[asyncio.Task[None]] = set()

    async def post(seq: int, body: bytes) -> None:
        headers = {"Content-Type": "application/json",
                   signing.HEADER: signing.sign(secret, body)}
        try:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                at = time.monotonic()
                if 200 <= response.status < 300:
                    recorder.arrived(ACK, seq, at)
                else:
                    recorder.failed += 1
        except (aiohttp.ClientError, OSError):
            recorder.failed += 1

    seq = 0
    while seq < total:
        now = time.monotonic()
        while seq < total and start + seq / rate <= now:
            scheduled = start + seq / rate
            recorder.schedule(seq, scheduled, measured=seq >= warm_count)
            task = asyncio.create_task(post(seq, body_for(seq, scheduled)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent.append(time.monotonic())
            seq += 1
        if seq < total:
            await asyncio.sleep(max(0.0, start + seq / rate - time.monotonic()))
    if tasks:
        await asyncio.gather(*tasks)
    return sent


async def read_sse(session: aiohttp.ClientSession, url: str, token: str, tag: str,
                   recorder: Recorder, connected: asyncio.Event) -> None:
    """Follow the hub's event stream, stamping each of this run's messages on arrival."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with session.get(url, headers=headers, timeout=timeout) as response:
        if response.status != 200:
            raise RuntimeError(f"GET {url} answered {response.status}: "
                               f"{(await response.text())[:200]}")
        connected.set()
        async for line in response.content:
            if not line.startswith(b"data:"):
                continue
            at = time.monotonic()
            seq = seq_of(tag, orjson.loads(line[5:]))
            if seq is not None:
                recorder.arrived(SSE, seq, at)


class WebhookReceiver:
    """An aiohttp endpoint that verifies the hub's signature and stamps each arrival."""

    def __init__(self, secret: str, tag: str, recorder: Recorder) -> None:
        self.secret = secret
        self.tag = tag
        self.recorder = recorder
        self.bad_signatures = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        at = time.monotonic()
        try:
            signing.verify(self.secret, body, request.headers.get(signing.HEADER))
        except signing.SignatureError:
            self.bad_signatures += 1
            return web.Response(status=401)
        seq = seq_of(self.tag, orjson.loads(body))
        if seq is not None:
            self.recorder.arrived(WEBHOOK, seq, at)
        return web.Response(status=204)

    async def start(self, port: int) -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner
