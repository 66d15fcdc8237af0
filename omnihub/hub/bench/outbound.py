"""Outbound send rate against a Telegram stand-in that enforces Telegram's flood limits.

The hub gets a Telegram channel whose Bot API is tg_standin.py (30 messages/s per bot,
1/s per chat, 429 + retry_after beyond, see flood.py). Customers write in from many
chats; then an agent queues replies through the API, all at once: one to each of many
chats, and 20 to each of a few hot chats, shuffled. The figure is the rate the hub
achieved as a fraction of the rate the limits allow for that workload (flood.py's
`allowed_seconds`: the bot's 30/s over every reply, or the hottest chat's 1/s, whichever
takes longer), measured at the stand-in from the first accepted reply to the last, and
the number of replies the stand-in refused (limit violations). Targets (issue 8):
>= 95% of the allowed rate, 0 violations.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from omnihub.hub.bench import targets
from omnihub.hub.bench.bare import new_loop
from omnihub.hub.bench.base import Benchmark, BenchOptions, Report
from omnihub.hub.bench.flood import (
    BOT_PER_SECOND,
    CHAT_PER_SECOND,
    TOLERANCE,
    allowed_seconds,
    busiest_second,
    tightest_chat_gap,
)
from omnihub.hub.bench.latency import create_token
from omnihub.hub.bench.procs import LOAD_CPU, SERVER_CPU, Server, can_pin, free_port, start_server

TG_ID = "tg"
# Throwaway credentials for a throwaway stand-in; they open nothing outside this run.
TG_TOKEN = "7000000001:benchTokenForTheStandIn_0123456789"
TG_SECRET = "bench-tg-secret-0123456789"
HOT_CHATS = 3
HOT_REPLIES = 20  # per hot chat: at 1/s the hottest chat needs 19 s
COLD_CHATS = 840  # one reply each: with the hot ones, 900 replies need 29.97 s at 30/s
QUICK_COLD_CHATS = 240
QUICK_HOT_REPLIES = 8
FIRST_CHAT = 500_000_000
POST_CONCURRENCY = 16
TARGET_FRACTION = 0.95
SEED = 8

TELEGRAM_CONFIG = """\
  - {{id: {channel_id}, type: telegram, token: "{token}", secret_token: "{secret}",
     api_base_url: "{base}"}}
"""


@dataclass(frozen=True)
class Workload:
    """Which conversation each queued reply goes to, in queueing order."""

    replies: list[str]

    @classmethod
    def shuffled(cls, hot: list[str], cold: list[str], hot_replies: int,
                 seed: int = SEED) -> Workload:
        replies = [c for c in hot for _ in range(hot_replies)] + list(cold)
        random.Random(seed).shuffle(replies)
        return cls(replies)


def start_standin(workdir: Path, cpu: int | None, loop: str) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "omnihub.hub.bench.tg_standin", "--port", str(port),
            "--token", TG_TOKEN, "--loop", loop]
    return start_server("telegram", argv, port=port, log=workdir / "standin.log", cpu=cpu,
                        cwd=workdir)


def start_hub(workdir: Path, standin: Server, cpu: int | None) -> tuple[Server, Path]:
    port = free_port()
    config, _ = targets.write_hub_config(workdir, port)
    config.write_text(config.read_text() + TELEGRAM_CONFIG.format(
        channel_id=TG_ID, token=TG_TOKEN, secret=TG_SECRET, base=standin.url("")))
    argv = [sys.executable, *targets.CLI, "serve", "--config", str(config),
            "--host", "127.0.0.1", "--port", str(port)]
    return start_server("hub", argv, port=port, log=workdir / "hub.log", cpu=cpu,
                        cwd=workdir), config


def update(chat: int, update_id: int) -> dict[str, Any]:
    """A customer's text message as Telegram posts it to the webhook."""
    user = {"id": chat, "is_bot": False, "first_name": f"Customer {chat}"}
    return {"update_id": update_id, "message": {
        "message_id": 1, "date": int(time.time()), "chat": {"id": chat, "type": "private"},
        "from": user, "text": "Hello, where is my order?"}}


async def gather_limited(coros: list[Any], limit: int) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(coro: Any) -> Any:
        async with gate:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))


class OutboundBench:
    def __init__(self, hub: Server, standin: Server, token: str, chats: int) -> None:
        self.hub = hub
        self.standin = standin
        self.auth = {"Authorization": f"Bearer {token}"}
        self.chats = chats
        self.queued_at: list[float] = []
        self.queue_failed = 0

    async def write_in(self, session: aiohttp.ClientSession) -> None:
        """One customer message per chat, so each chat has a conversation to answer."""
        url = self.hub.url(f"/webhooks/{TG_ID}")
        headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}

        async def post(i: int) -> None:
            async with session.post(url, json=update(FIRST_CHAT + i, i + 1),
                                    headers=headers) as response:
                if response.status != 200:
                    raise RuntimeError(f"webhook answered {response.status}: "
                                       f"{(await response.text())[:200]}")

        await gather_limited([post(i) for i in range(self.chats)], POST_CONCURRENCY)

    async def conversations(self, session: aiohttp.ClientSession) -> list[str]:
        ids: list[str] = []
        cursor: str | None = None
        while True:
            params = {"channel": TG_ID, "limit": "200", **({"cursor": cursor} if cursor else {})}
            async with session.get(self.hub.url("/api/v1/conversations"), params=params,
                                   headers=self.auth) as response:
                page = await response.json()
                if response.status != 200:
                    raise RuntimeError(f"listing conversations answered {response.status}: {page}")
            ids += [item["id"] for item in page["items"]]
            cursor = page.get("next_cursor")
            if not cursor:
                return ids

    async def queue(self, session: aiohttp.ClientSession, workload: Workload) -> None:
        async def post(n: int, conversation: str) -> None:
            url = self.hub.url(f"/api/v1/conversations/{conversation}/messages")
            headers = {**self.auth, "Idempotency-Key": f"bench-{n}"}
            async with session.post(url, json={"text": f"Reply {n}: it ships today."},
                                    headers=headers) as response:
                await response.read()
                if response.status not in (200, 201):
                    self.queue_failed += 1
                self.queued_at.append(time.monotonic())

        await gather_limited([post(n, c) for n, c in enumerate(workload.replies)],
                             POST_CONCURRENCY)

    async def stats(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        async with session.get(self.standin.url("/stats")) as response:
            return dict(await response.json())

    async def wait_sent(self, session: aiohttp.ClientSession, count: int,
                        timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            stats = await self.stats(session)
            if len(stats["accepted"]) >= count or time.monotonic() > deadline:
                return stats
            await asyncio.sleep(0.5)


def run(options: BenchOptions) -> Report:
    pinned_run = options.pin and can_pin()
    cold = QUICK_COLD_CHATS if options.quick else COLD_CHATS
    hot_replies = QUICK_HOT_REPLIES if options.quick else HOT_REPLIES
    loop_name = targets.hub_event_loop()
    say = options.progress
    with tempfile.TemporaryDirectory(prefix="omnihub-bench-") as tmp:
        workdir = Path(tmp)
        standin = start_standin(workdir, LOAD_CPU if pinned_run else None, loop_name)
        hub = None
        try:
            standin.wait_ready()
            hub, config = start_hub(workdir, standin, SERVER_CPU if pinned_run else None)
            hub.wait_ready()
            token = create_token(config)
            bench = OutboundBench(hub, standin, token, HOT_CHATS + cold)
            loop = new_loop(loop_name)
            try:
                stats, workload, queue_seconds = loop.run_until_complete(
                    drive(bench, hot_replies, say))
            finally:
                loop.close()
        finally:
            if hub is not None:
                hub.kill()
            standin.kill()
    return report(stats, workload, hot_replies, queue_seconds, bench.queue_failed)


async def drive(bench: OutboundBench, hot_replies: int,
                say: Any) -> tuple[dict[str, Any], Workload, float]:
    async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=POST_CONCURRENCY)) as session:
        say(f"  {bench.chats} customers write in on Telegram")
        await bench.write_in(session)
        conversations = await bench.conversations(session)
        if len(conversations) != bench.chats:
            raise RuntimeError(f"{len(conversations)} conversations for {bench.chats} chats")
        workload = Workload.shuffled(conversations[:HOT_CHATS], conversations[HOT_CHATS:],
                                     hot_replies)
        total = len(workload.replies)
        say(f"  queueing {total} agent replies ({HOT_CHATS} hot chats x {hot_replies})")
        started = time.monotonic()
        await bench.queue(session, workload)
        queue_seconds = time.monotonic() - started
        expected = allowed_seconds(Counter(workload.replies).values())
        stats = await bench.wait_sent(session, total, timeout=3 * expected + 60)
    return stats, workload, queue_seconds


def per_second_counts(times: list[float]) -> list[int]:
    """How many sends fell in each whole second after the first one."""
    if not times:
        return []
    first = min(times)
    counts = [0] * (int(max(times) - first) + 1)
    for at in times:
        counts[int(at - first)] += 1
    return counts


def report(stats: dict[str, Any], workload: Workload, hot_replies: int,
           queue_seconds: float, queue_failed: int) -> Report:
    accepted = [(str(chat), float(at)) for chat, at in stats["accepted"]]
    total = len(workload.replies)
    per_chat = Counter(chat for chat, _ in accepted)
    allowed = allowed_seconds(Counter(workload.replies).values())
    times = [at for _, at in accepted]
    took = max(times) - min(times) if len(times) > 1 else 0.0
    fraction = allowed / took if took > 0 else 0.0
    refused = int(stats["refused_bot"]) + int(stats["refused_chat"])
    gap = tightest_chat_gap(accepted)
    busiest = busiest_second(times)
    achieved = (len(times) - 1) / took if took > 0 else 0.0
    allowed_rate = (total - 1) / allowed if allowed > 0 else 0.0
    met = fraction >= TARGET_FRACTION and refused == 0
    problems = []
    if len(accepted) != total:
        problems.append(f"the stand-in accepted {len(accepted)} of {total} replies")
    if queue_failed:
        problems.append(f"{queue_failed} replies were refused by the agent API")
    lines = [
        f"outbound: {total} agent replies queued at once over the API ({HOT_CHATS} hot chats x "
        f"{hot_replies}, {total - HOT_CHATS * hot_replies} chats x 1, shuffled) in "
        f"{queue_seconds:.1f}s; Telegram stand-in enforcing {BOT_PER_SECOND:g}/s per bot "
        f"(any 1 s window), {CHAT_PER_SECOND:g}/s per chat, {TOLERANCE * 1e3:g} ms jitter "
        "tolerance",
        f"  sent: {len(accepted)} in {took:.2f}s = {achieved:.1f}/s; allowed for this workload "
        f"{allowed:.2f}s = {allowed_rate:.1f}/s; fraction of the allowed rate {fraction:.3f}",
        f"  refused by the stand-in (limit violations): {refused} (per bot "
        f"{stats['refused_bot']}, per chat {stats['refused_chat']}); busiest second "
        f"{busiest}; tightest gap within a chat "
        + (f"{gap * 1e3:.0f} ms" if gap is not None else "n/a"),
        f"  hottest chat got {max(per_chat.values(), default=0)} replies",
        f"target >= {TARGET_FRACTION:.0%} of the allowed rate and 0 violations: "
        + ("met" if met else "NOT met"),
    ]
    timeline = per_second_counts(times)
    lines.insert(-1, "  sends in each second from the first: " + " ".join(map(str, timeline)))
    figures = {"timeline": timeline, "replies": total, "accepted": len(accepted), "seconds": took,
               "allowed_seconds": allowed, "achieved_rate": achieved,
               "allowed_rate": allowed_rate, "fraction": fraction, "refused": refused,
               "refused_bot": stats["refused_bot"], "refused_chat": stats["refused_chat"],
               "busiest_second": busiest, "tightest_chat_gap_s": gap,
               "queue_seconds": queue_seconds, "met": met}
    return Report(name="outbound", lines=lines, figures=figures,
                  final_line=(f"outbound Telegram send rate: {fraction:.3f} of allowed, "
                              f"{refused} limit violations"),
                  ok=not problems, problems=problems)


OUTBOUND = Benchmark(
    name="outbound",
    summary="agent replies sent against a Telegram stand-in enforcing 30/s per bot, 1/s per chat",
    run=run,
)
