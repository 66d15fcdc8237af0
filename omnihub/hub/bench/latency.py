"""Latency: from a message's ingest to its arrival at an SSE client and a webhook receiver.

Issue 4's figure: p50 and p99 at 1,000 messages/s on loopback (target p50 <= 2 ms,
p99 <= 15 ms). The sender is open-loop: send times are fixed in advance and every delay
counts from its scheduled time, so a slow answer cannot slow the sender down and hide
itself. The same sender then drives a bare aiohttp handler at the same rate, and SSE p99
over the bare POST->200 p99 is the figure that travels between machines.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from omnihub.hub.bench import targets
from omnihub.hub.bench.bare import new_loop
from omnihub.hub.bench.disk import describe, fdatasync_latency
from omnihub.hub.bench.base import Benchmark, BenchOptions, Report
from omnihub.hub.bench.latency_io import WebhookReceiver, message_body, read_sse, send_open_loop
from omnihub.hub.bench.latency_stats import (
    ACK,
    SSE,
    WEBHOOK,
    Recorder,
    achieved_rate,
    latency_table,
    ratio,
)
from omnihub.hub.bench.payloads import message_texts
from omnihub.hub.bench.procs import LOAD_CPU, SERVER_CPU, Server, can_pin, free_port

RATE = 1000.0  # messages per second, issue 4's figure
CUSTOMERS = 200  # senders cycle through these, so after warm-up they are returning ones
TEXT_LENGTH = 200
DRAIN_SECONDS = 15.0  # how long deliveries may trail the last send before they are missing
TARGET_P50_MS = 2.0
TARGET_P99_MS = 15.0
# Throwaway secret for a throwaway receiver; it signs nothing outside this run.
WEBHOOK_SECRET = "bench-webhook-secret-0123456789"

INBOX_CONFIG = """\
inbox:
  webhooks:
    - {{url: "http://127.0.0.1:{port}/hook", secret: "{secret}", events: ["message.received"]}}
"""


def start_hub(workdir: Path, receiver_port: int, cpu: int | None) -> tuple[Server, Path]:
    """`omnihub serve` on a fresh SQLite store, with the bench's webhook subscribed."""
    server, config, _ = targets.start_hub_with(
        workdir, cpu, INBOX_CONFIG.format(port=receiver_port, secret=WEBHOOK_SECRET))
    return server, config


def create_token(config: Path) -> str:
    """An admin token on the bench's store, made the way an operator makes one."""
    done = subprocess.run(
        [sys.executable, *targets.CLI, "token", "create", "--agent", "bench", "--role", "admin",
         "--config", str(config)], capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"omnihub token create failed: {done.stderr.strip()}")
    return done.stdout.strip()


async def wait_drained(recorder: Recorder, deadline: float) -> None:
    """Until every acknowledged message reached both ends, or the drain time is up."""
    while time.monotonic() < deadline:
        if recorder.missing(SSE) == 0 and recorder.missing(WEBHOOK) == 0:
            return
        await asyncio.sleep(0.05)


class LatencyBench:
    """Holds the servers and recorders of one `omnihub bench --only latency` run."""

    def __init__(self, options: BenchOptions, workdir: Path) -> None:
        self.options = options
        self.workdir = workdir
        self.pinned = options.pin and can_pin()
        self.tag = f"lat-{secrets.token_hex(4)}"
        self.filler = message_texts(1, TEXT_LENGTH)[0]
        self.hub = Recorder()
        self.bare = Recorder()
        self.sent: dict[str, list[float]] = {}
        self.receiver = WebhookReceiver(WEBHOOK_SECRET, self.tag, self.hub)

    def cpu(self, which: int) -> int | None:
        return which if self.pinned else None

    def body(self, seq: int, scheduled: float) -> bytes:
        return message_body(self.tag, seq, scheduled, CUSTOMERS, self.filler)

    async def drive(self, server: Server, recorder: Recorder) -> None:
        opts = self.options
        connector = aiohttp.TCPConnector(limit=opts.connections)
        async with aiohttp.ClientSession(connector=connector) as session:
            self.sent[server.name] = await send_open_loop(
                session, server.url(f"/webhooks/{targets.CHANNEL_ID}"),
                secret=targets.CHANNEL_SECRET, rate=RATE, warmup=opts.warmup,
                duration=opts.duration, recorder=recorder, body_for=self.body)

    async def measure(self, hub: Server, bare: Server, token: str) -> None:
        say = self.options.progress
        connected = asyncio.Event()
        async with aiohttp.ClientSession() as sse_session:
            sse = asyncio.create_task(read_sse(sse_session, hub.url("/api/v1/events"), token,
                                               self.tag, self.hub, connected))
            await asyncio.wait_for(asyncio.shield(connected.wait()), 30)
            say(f"  hub: {RATE:g}/s for {self.options.warmup:g}s warm-up + "
                f"{self.options.duration:g}s measured")
            await self.drive(hub, self.hub)
            say("  hub: draining SSE and webhook deliveries")
            await wait_drained(self.hub, time.monotonic() + DRAIN_SECONDS)
            sse.cancel()
            await asyncio.gather(sse, return_exceptions=True)
        say(f"  bare: {RATE:g}/s, same schedule")
        await self.drive(bare, self.bare)

    async def main(self, hub: Server, bare: Server, token: str, receiver_port: int) -> None:
        runner = await self.receiver.start(receiver_port)
        try:
            await self.measure(hub, bare, token)
        finally:
            await runner.cleanup()

    def run(self) -> Report:
        loop_name = targets.hub_event_loop()
        receiver_port = free_port()
        self.disk = fdatasync_latency(self.workdir)
        hub, config = start_hub(self.workdir, receiver_port, self.cpu(SERVER_CPU))
        bare = targets.start_bare(self.workdir, self.cpu(SERVER_CPU), loop_name)
        affinity = os.sched_getaffinity(0) if self.pinned else None
        try:
            hub.wait_ready()
            bare.wait_ready()
            token = create_token(config)
            if affinity is not None:
                os.sched_setaffinity(0, {LOAD_CPU})
            loop = new_loop(loop_name)
            try:
                loop.run_until_complete(self.main(hub, bare, token, receiver_port))
            finally:
                loop.close()
        finally:
            if affinity is not None:
                os.sched_setaffinity(0, affinity)
            hub.kill()
            bare.kill()
        return self.report(loop_name)

    def report(self, loop_name: str) -> Report:
        opts = self.options
        rows = {f"hub {name}": self.hub.latencies(name) for name in (ACK, SSE, WEBHOOK)}
        bare_ack = self.bare.latencies(ACK)
        rows["bare POST->200"] = bare_ack
        sse = rows[f"hub {SSE}"]
        hub_rate = achieved_rate(self.sent.get("hub", []))
        bare_rate = achieved_rate(self.sent.get("bare", []))
        pin_note = (f"pinned: servers CPU {SERVER_CPU}, bench CPU {LOAD_CPU}"
                    if self.pinned else "not pinned")
        problems = []
        for path in (SSE, WEBHOOK):
            if missing := self.hub.missing(path):
                problems.append(f"{missing} acknowledged messages never reached the {path} "
                                f"after {DRAIN_SECONDS:g}s of drain")
            if dups := self.hub.paths[path].duplicates:
                problems.append(f"{dups} duplicate deliveries at the {path}")
        for name, rec in (("hub", self.hub), ("bare", self.bare)):
            if rec.failed:
                problems.append(f"{name}: {rec.failed} sends failed or answered non-2xx")
        if self.receiver.bad_signatures:
            problems.append(f"{self.receiver.bad_signatures} webhooks with a bad signature")
        load1, load5, load15 = os.getloadavg()
        lines = [
            (f"latency: open-loop {RATE:g} msg/s, {opts.warmup:g}s warm-up + {opts.duration:g}s "
             f"measured, up to {opts.connections} keep-alive connections; {loop_name}, {pin_note}"),
            (f"achieved send rate: hub {hub_rate:.0f}/s, bare {bare_rate:.0f}/s "
             f"(scheduled {RATE:g}/s; delays count from the schedule)"),
            (f"delivery rate over the run: SSE "
             f"{self.hub.delivery_rate(SSE):.0f}/s, webhook "
             f"{self.hub.delivery_rate(WEBHOOK):.0f}/s (first scheduled send to last arrival)"),
            "delays from each message's scheduled send time:",
            *latency_table(rows),
            (f"missing after drain: SSE {self.hub.missing(SSE)}, webhook "
             f"{self.hub.missing(WEBHOOK)}; duplicates: SSE {self.hub.paths[SSE].duplicates}, "
             f"webhook {self.hub.paths[WEBHOOK].duplicates}"),
            f"ratio SSE p99 / bare p99: {ratio(sse.p99, bare_ack.p99):.2f}",
            describe(self.disk),
            (f"SSE p50 / disk fdatasync p50: {ratio(sse.p50, self.disk.p50):.1f} "
             f"(a durable ack needs at least 1)"),
            f"target p50 <= {TARGET_P50_MS:g} ms and p99 <= {TARGET_P99_MS:g} ms: "
            + ("met" if sse.p50 <= TARGET_P50_MS and sse.p99 <= TARGET_P99_MS else "NOT met"),
            f"load average: {load1:.2f} {load5:.2f} {load15:.2f}",
        ]
        sse_rate = self.hub.delivery_rate(SSE)
        if sse_rate < 0.95 * hub_rate:
            lines.append(f"deliveries fell behind the sender ({sse_rate:.0f}/s of "
                         f"{hub_rate:.0f}/s): a backlog grew, and the delays with it")
        if hub_rate < 0.95 * RATE:
            lines.append(f"the sender kept only {hub_rate:.0f}/s of {RATE:g}/s")
        figures = {
            "rate": RATE, "achieved_rate": {"hub": hub_rate, "bare": bare_rate},
            "delivery_rate": {"sse": sse_rate, "webhook": self.hub.delivery_rate(WEBHOOK)},
            "loop": loop_name, "pinned": self.pinned,
            **{name: lat.as_dict() for name, lat in rows.items()},
            "missing": {"sse": self.hub.missing(SSE), "webhook": self.hub.missing(WEBHOOK)},
            "duplicates": {"sse": self.hub.paths[SSE].duplicates,
                           "webhook": self.hub.paths[WEBHOOK].duplicates},
            "sse_p99_over_bare_p99": ratio(sse.p99, bare_ack.p99),
            "load_average": [load1, load5, load15],
            "disk_fdatasync": self.disk.as_dict(),
        }
        return Report(
            name="latency", lines=lines, figures=figures,
            final_line=f"ingest→SSE p50/p99 ms at {RATE:g}/s: {sse.p50:.2f} / {sse.p99:.2f}"
            + ("" if hub_rate >= 0.95 * RATE else f" (achieved {hub_rate:.0f}/s)"),
            ok=not problems, problems=problems,
        )


def run(options: BenchOptions) -> Report:
    """Measure latency in a temporary directory that is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="omnihub-bench-") as workdir:
        return LatencyBench(options, Path(workdir)).run()


LATENCY = Benchmark(
    name="latency",
    summary="ingest to SSE and webhook arrival, p50/p99 at 1,000 msg/s, against bare aiohttp",
    run=run,
)
