"""Soak: a steady inbound rate for ten minutes, and the hub's RSS over time.

Issue 8 asks that memory stay flat at a steady rate below capacity. The bench sends
signed API-channel messages open-loop at 200/s (returning customers, so conversations
grow the way a shop's do) to the hub on a fresh SQLite store, and the same schedule to
the bare aiohttp handler at the same time, sampling both processes' RSS every 10 s.
Flat means: after the warm-up (the first minute, when caches, the SQLite page cache and
the allocator's arenas fill), the least-squares slope of the hub's RSS is at most
SLOPE_BOUND KiB/min — 2.5 MiB over ten minutes, about 20 bytes per message; a leak of
one small object per message shows up above it. Every acknowledged message must be in
the store at the end, and no send may be refused (the rate is below capacity, so a 503
would mean backpressure where there should be none).

`--quick` runs 30 s with samples every 2 s: a smoke run; its slope is not a verdict.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from omnihub.hub.bench import targets
from omnihub.hub.bench.bare import new_loop
from omnihub.hub.bench.base import Benchmark, BenchOptions, Report
from omnihub.hub.bench.latency_io import message_body, send_open_loop
from omnihub.hub.bench.latency_stats import ACK, Recorder, achieved_rate
from omnihub.hub.bench.memory import Sample, Trend, rss_kib, trend
from omnihub.hub.bench.payloads import message_texts
from omnihub.hub.bench.procs import LOAD_CPU, SERVER_CPU, Server, can_pin

RATE = 200.0  # messages per second, well below the ~900/s the hub takes on SQLite here
CUSTOMERS = 1_000
TEXT_LENGTH = 200
SECONDS, WARMUP, INTERVAL = 600.0, 60.0, 10.0
QUICK_SECONDS, QUICK_WARMUP, QUICK_INTERVAL = 30.0, 10.0, 2.0
SLOPE_BOUND = 256.0  # KiB per minute after the warm-up


@dataclass(frozen=True)
class Plan:
    seconds: float
    warmup: float
    interval: float

    @classmethod
    def of(cls, options: BenchOptions) -> Plan:
        if options.quick:
            return cls(QUICK_SECONDS, QUICK_WARMUP, QUICK_INTERVAL)
        return cls(SECONDS, WARMUP, INTERVAL)


async def sample_forever(servers: list[Server], series: dict[str, list[Sample]],
                         interval: float, started: float) -> None:
    """RSS of every server now and then every `interval` seconds, until cancelled; a tick
    the loop was too busy to keep is skipped, not taken twice."""
    tick = 0
    while True:
        at = time.monotonic() - started
        for server in servers:
            series[server.name].append(Sample(at, rss_kib(server.pid)))
        tick = next_tick(tick, at, interval)
        await asyncio.sleep(max(0.0, tick * interval - (time.monotonic() - started)))


def next_tick(tick: int, at: float, interval: float) -> int:
    """The next sampling tick after the one just taken at `at` seconds: the first
    tick > `tick` whose time has not passed yet."""
    return max(tick + 1, int(at // interval) + 1)


class Soak:
    def __init__(self, options: BenchOptions, plan: Plan) -> None:
        self.options = options
        self.plan = plan
        self.tag = f"soak-{secrets.token_hex(4)}"
        self.filler = message_texts(1, TEXT_LENGTH)[0]
        self.recorders = {"hub": Recorder(), "bare": Recorder()}
        self.sent: dict[str, list[float]] = {}
        self.series: dict[str, list[Sample]] = {"hub": [], "bare": []}

    def body(self, seq: int, scheduled: float) -> bytes:
        return message_body(self.tag, seq, scheduled, CUSTOMERS, self.filler)

    async def drive(self, server: Server) -> None:
        connector = aiohttp.TCPConnector(limit=self.options.connections)
        async with aiohttp.ClientSession(connector=connector) as session:
            self.sent[server.name] = await send_open_loop(
                session, server.url(f"/webhooks/{targets.CHANNEL_ID}"),
                secret=targets.CHANNEL_SECRET, rate=RATE, warmup=0.0,
                duration=self.plan.seconds, recorder=self.recorders[server.name],
                body_for=self.body)

    async def main(self, hub: Server, bare: Server) -> None:
        started = time.monotonic()
        sampler = asyncio.create_task(
            sample_forever([hub, bare], self.series, self.plan.interval, started))
        try:
            await asyncio.gather(self.drive(hub), self.drive(bare))
        finally:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)
        at = time.monotonic() - started
        for server in (hub, bare):  # the final reading, after the last answer
            self.series[server.name].append(Sample(at, rss_kib(server.pid)))

    def run(self, workdir: Path) -> Report:
        pinned_run = self.options.pin and can_pin()
        cpu = SERVER_CPU if pinned_run else None
        loop_name = targets.hub_event_loop()
        hub, db_path = targets.start_hub(workdir, cpu)
        bare = targets.start_bare(workdir, cpu, loop_name)
        affinity = os.sched_getaffinity(0) if pinned_run else None
        try:
            hub.wait_ready()
            bare.wait_ready()
            if affinity is not None:
                os.sched_setaffinity(0, {LOAD_CPU})
            self.options.progress(
                f"  {RATE:g} msg/s to hub and bare for {self.plan.seconds:g}s, RSS every "
                f"{self.plan.interval:g}s")
            loop = new_loop(loop_name)
            try:
                loop.run_until_complete(self.main(hub, bare))
            finally:
                loop.close()
        finally:
            if affinity is not None:
                os.sched_setaffinity(0, affinity)
            hub.kill()
            bare.kill()
        stored = targets.count_messages(db_path)
        return self.report(stored)

    def report(self, stored: int) -> Report:
        plan = self.plan
        trends: dict[str, Trend] = {name: trend(series, plan.warmup)
                                    for name, series in self.series.items()}
        hub, bare = trends["hub"], trends["bare"]
        recorder = self.recorders["hub"]
        acked = len(recorder.paths[ACK].first)
        problems = []
        if stored != acked:
            problems.append(f"{acked} messages acknowledged, {stored} in the store")
        for name, rec in self.recorders.items():
            if rec.failed:
                problems.append(f"{name}: {rec.failed} sends failed or answered non-2xx "
                                "(below capacity nothing should be refused)")
        flat = hub.flat(SLOPE_BOUND)
        rate = achieved_rate(self.sent.get("hub", []))
        lines = [
            f"soak: open loop {RATE:g} msg/s ({CUSTOMERS:,} returning customers) for "
            f"{plan.seconds:g}s to the hub (SQLite) and, at once, to bare aiohttp; RSS every "
            f"{plan.interval:g}s; warm-up {plan.warmup:g}s; sender achieved {rate:.0f}/s",
        ]
        for name, t in trends.items():
            lines.append(
                f"  {name}: RSS start {t.start_kib / 1024:.1f}, after warm-up "
                f"{t.steady_start_kib / 1024:.1f}, max {t.max_kib / 1024:.1f}, end "
                f"{t.end_kib / 1024:.1f} MiB; slope after warm-up "
                f"{t.slope_kib_per_min:+.0f} KiB/min over {t.steady_samples} samples")
        lines.append("  hub RSS over time (s: MiB): " + " ".join(
            f"{s.at:.0f}:{s.kib / 1024:.1f}" for s in self.series["hub"]))
        lines.append(f"  stored {stored:,} of {acked:,} acknowledged")
        verdict = "flat" if flat else "NOT flat"
        lines.append(f"flat = slope after warm-up <= {SLOPE_BOUND:g} KiB/min: {verdict}"
                     + (" (quick run: too short to judge)" if self.options.quick else ""))
        figures = {
            "rate": RATE, "achieved_rate": rate, "seconds": plan.seconds,
            "warmup": plan.warmup, "interval": plan.interval,
            "hub": hub.as_dict(), "bare": bare.as_dict(),
            "hub_series": [[s.at, s.kib] for s in self.series["hub"]],
            "bare_series": [[s.at, s.kib] for s in self.series["bare"]],
            "acked": acked, "stored": stored, "slope_bound_kib_per_min": SLOPE_BOUND,
            "flat": flat,
        }
        return Report(
            name="soak", lines=lines, figures=figures,
            final_line=(f"soak RSS slope after warm-up: hub {hub.slope_kib_per_min:+.0f} "
                        f"KiB/min, bare {bare.slope_kib_per_min:+.0f} KiB/min ({verdict})"),
            ok=not problems, problems=problems)


def run(options: BenchOptions) -> Report:
    with tempfile.TemporaryDirectory(prefix="omnihub-bench-") as workdir:
        return Soak(options, Plan.of(options)).run(Path(workdir))


SOAK = Benchmark(
    name="soak",
    summary="hub RSS over a 10-minute steady 200 msg/s (--quick: 30 s), against bare aiohttp",
    run=run,
)
