"""Memory per open conversation: two hubs, the same traffic, 10,000 open conversations
against 100.

What the hub keeps in memory for an open conversation (routing state, SLA deadlines,
caches of customers and conversations, parked keys) is what this is after: both hubs take the same 10,000 signed API-channel messages on the same schedule and
route them with the same routing.yaml (deadlines on, one group), but on hub "open" they
come from 10,000 customers (10,000 open conversations) and on hub "baseline" from 100
(100 conversations). Traffic and its allocator churn are common to both, so

    per conversation = (growth of "open" - growth of "baseline") / (10,000 - 100)

Growth is RSS once the consumers have caught up (no outbox row pending) minus RSS after
a warm-up round, on both. RSS is what the machine pays, so it keeps the allocator's
high-water mark: if routing falls behind ingest, the envelopes queued meanwhile count.
Target (issue 8): <= 2 KB per open conversation.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from omnihub.hub import signing
from omnihub.hub.bench import targets
from omnihub.hub.bench.bare import new_loop
from omnihub.hub.bench.base import Benchmark, BenchOptions, Report
from omnihub.hub.bench.memory import per_item_bytes, rss_kib
from omnihub.hub.bench.payloads import build_body, customer_ref, message_texts
from omnihub.hub.bench.procs import SERVER_CPU, Server, can_pin, free_port, start_server

MESSAGES = 10_000
QUICK_MESSAGES = 2_000
BASELINE_CUSTOMERS = 100
WARMUP_MESSAGES = 500
CONCURRENCY = 32
RATE = 300.0  # messages per second on both hubs: below what either takes in here
SETTLE_SECONDS = 3.0
DRAIN_TIMEOUT = 600.0
TARGET_BYTES = 2048.0

ROUTING = """\
channels:
  default: {priority: 30, first_response: 1h, next_response: 4h, resolution: 3d}
groups:
  support: {agents: [ann], strategy: least_busy}
agents:
  - {id: ann, name: Ann, role: agent}
rules:
  - {name: everything, when: {}, then: {group: support}}
"""


@dataclass(frozen=True)
class Growth:
    """One hub's RSS before and after the measured messages, and what it stored."""

    name: str
    customers: int
    before_kib: int
    after_kib: int
    conversations: int
    stored: int
    failed: int
    seconds: float
    drained: bool = True
    drain_seconds: float = 0.0  # after the last acknowledgement, until consumers caught up

    @property
    def growth_kib(self) -> int:
        return self.after_kib - self.before_kib

    def as_dict(self) -> dict[str, float | int]:
        return {"customers": self.customers, "rss_before_kib": self.before_kib,
                "rss_after_kib": self.after_kib, "growth_kib": self.growth_kib,
                "conversations": self.conversations, "stored": self.stored,
                "failed": self.failed, "seconds": self.seconds, "drained": self.drained,
                "drain_seconds": self.drain_seconds}


def per_conversation_bytes(open_: Growth, baseline: Growth) -> float:
    """RSS per open conversation beyond what the same traffic costs anyway."""
    extra = open_.conversations - baseline.conversations
    return per_item_bytes(baseline.growth_kib, open_.growth_kib, extra)


def start_hub(workdir: Path, cpu: int | None) -> tuple[Server, Path]:
    """`omnihub serve` on SQLite with a routing.yaml that sets deadlines on everything."""
    workdir.mkdir(parents=True, exist_ok=True)
    routing = workdir / "routing.yaml"
    routing.write_text(ROUTING)
    port = free_port()
    config, db_path = targets.write_hub_config(workdir, port)
    config.write_text(config.read_text() + f"routing: {routing}\n")
    argv = [sys.executable, *targets.CLI, "serve", "--config", str(config),
            "--host", "127.0.0.1", "--port", str(port)]
    server = start_server("hub", argv, port=port, log=workdir / "hub.log", cpu=cpu, cwd=workdir)
    return server, db_path


async def post_all(url: str, bodies: list[bytes], concurrency: int = CONCURRENCY,
                   rate: float | None = None) -> int:
    """POST every body, signed, `concurrency` at a time and, with `rate`, none before its
    turn on a fixed schedule (so two hubs see the same traffic at the same pace, whatever
    each one's speed); a 503 is retried after its Retry-After as a provider would.
    Returns how many never got a 2xx."""
    queue = enumerate(bodies)
    failed = 0
    start = time.monotonic()

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal failed
        for seq, body in queue:
            if rate is not None:
                await asyncio.sleep(max(0.0, start + seq / rate - time.monotonic()))
            headers = {"Content-Type": "application/json",
                       signing.HEADER: signing.sign(targets.CHANNEL_SECRET, body)}
            for _attempt in range(20):
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status == 503:
                        await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                        continue
                    if not 200 <= response.status < 300:
                        failed += 1
                    break
            else:
                failed += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        await asyncio.gather(*(worker(s) for _ in range(concurrency)))
    return failed


def bodies(prefix: str, count: int, customers: int, first_customer: int = 0) -> list[bytes]:
    texts = message_texts(64, 120)
    return [build_body(f"{prefix}-{i:06d}", customer_ref(first_customer + i % customers),
                       texts[i % len(texts)]) for i in range(count)]


def count_conversations(db_path: Path) -> int:
    with closing(sqlite3.connect(db_path, timeout=10)) as conn:
        (count,) = conn.execute("SELECT count(*) FROM conversations").fetchone()
    return int(count)


def outbox_pending(db_path: Path) -> int:
    """Outbox rows some consumer group has not handled yet (the in-process bus marks a
    row dispatched only when every group has)."""
    with closing(sqlite3.connect(db_path, timeout=10)) as conn:
        (count,) = conn.execute("SELECT count(*) FROM outbox_pending").fetchone()
    return int(count)


def wait_drained(db_path: Path, timeout: float = DRAIN_TIMEOUT) -> bool:
    """Until the hub has handled everything it took in: a backlog of queued envelopes
    is memory too, and not what an open conversation costs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if outbox_pending(db_path) == 0:
            return True
        time.sleep(0.2)
    return False


def measure(name: str, workdir: Path, messages: int, customers: int,
            cpu: int | None, loop_name: str) -> Growth:
    server, db_path = start_hub(workdir, cpu)
    url = server.url(f"/webhooks/{targets.CHANNEL_ID}")
    try:
        server.wait_ready()
        loop = new_loop(loop_name)
        try:
            # The same warm-up on both hubs: 100 customers of their own, 500 messages.
            loop.run_until_complete(post_all(url, bodies("warm", WARMUP_MESSAGES,
                                                         BASELINE_CUSTOMERS, 90_000)))
            wait_drained(db_path)
            time.sleep(SETTLE_SECONDS)
            before_conversations = count_conversations(db_path)
            before = rss_kib(server.pid)
            started = time.monotonic()
            failed = loop.run_until_complete(post_all(url, bodies("conv", messages, customers),
                                                      rate=RATE))
            seconds = time.monotonic() - started
            drained = wait_drained(db_path)
            drain_seconds = time.monotonic() - started - seconds
            time.sleep(SETTLE_SECONDS)
            after = rss_kib(server.pid)
        finally:
            loop.close()
        conversations = count_conversations(db_path) - before_conversations
        stored = targets.count_messages(db_path, excluding_prefix="warm-")
    finally:
        server.kill()
    return Growth(name, customers, before, after, conversations, stored, failed, seconds,
                  drained, drain_seconds)


def run(options: BenchOptions) -> Report:
    messages = QUICK_MESSAGES if options.quick else MESSAGES
    cpu = SERVER_CPU if options.pin and can_pin() else None
    loop_name = targets.hub_event_loop()
    say = options.progress
    with tempfile.TemporaryDirectory(prefix="omnihub-bench-") as tmp:
        say(f"  open: {messages:,} messages from {messages:,} customers")
        open_ = measure("open", Path(tmp) / "open", messages, messages, cpu, loop_name)
        say(f"  baseline: {messages:,} messages from {BASELINE_CUSTOMERS} customers")
        baseline = measure("baseline", Path(tmp) / "baseline", messages, BASELINE_CUSTOMERS,
                           cpu, loop_name)
    return report(open_, baseline, messages)


def report(open_: Growth, baseline: Growth, messages: int) -> Report:
    problems = []
    for growth in (open_, baseline):
        if growth.failed:
            problems.append(f"{growth.name}: {growth.failed} messages never got a 2xx")
        if not growth.drained:
            problems.append(f"{growth.name}: consumers still behind after {DRAIN_TIMEOUT:g}s")
        if growth.stored != messages - growth.failed:
            problems.append(f"{growth.name}: {growth.stored} stored of "
                            f"{messages - growth.failed} acknowledged")
    per_conversation = per_conversation_bytes(open_, baseline)
    met = per_conversation <= TARGET_BYTES
    lines = [f"conversations: {messages:,} signed API-channel messages per hub at "
             f"{RATE:g}/s, routing with deadlines on; warm-up "
             f"{WARMUP_MESSAGES} messages first"]
    for g in (open_, baseline):
        lines.append(f"  {g.name}: {g.conversations:,} new conversations "
                     f"({g.customers:,} customers) in {g.seconds:.1f}s, consumers caught up "
                     f"{g.drain_seconds:.1f}s later; RSS "
                     f"{g.before_kib / 1024:.1f} -> {g.after_kib / 1024:.1f} MiB "
                     f"(+{g.growth_kib / 1024:.1f} MiB)")
    lines.append(f"per open conversation: {per_conversation:,.0f} bytes "
                 f"(growth difference over {open_.conversations - baseline.conversations:,} "
                 "extra conversations)")
    lines.append("  (RSS keeps the allocator's high-water mark: memory a backlog held while the "
                 "consumers were behind counts here even after they caught up)")
    lines.append(f"target <= {TARGET_BYTES:,.0f} bytes: " + ("met" if met else "NOT met"))
    figures = {"messages": messages, "open": open_.as_dict(), "baseline": baseline.as_dict(),
               "bytes_per_conversation": per_conversation, "target_bytes": TARGET_BYTES,
               "met": met}
    return Report(name="conversations", lines=lines, figures=figures,
                  final_line=f"RSS per open conversation: {per_conversation:,.0f} bytes",
                  ok=not problems, problems=problems)


CONVERSATIONS = Benchmark(
    name="conversations",
    summary="RSS per open conversation: 10,000 open against 100, same traffic",
    run=run,
)
