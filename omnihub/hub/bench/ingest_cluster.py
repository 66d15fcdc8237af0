"""Ingest with two `omnihub serve` processes sharing PostgreSQL and a Redis bus.

Why two ports and not one: `omnihub serve` has no SO_REUSEPORT option, and a load
balancer in front would be a third process competing for the same two cores. So each
hub listens on its own port and the load is split the way a provider-side balancer
would: two wrk processes side by side, half the connections each (32 + 32 = the 64 of
the other ingest benchmarks), both pinned to the load CPU. The processes under test are
NOT pinned (the kernel places the hubs, PostgreSQL and Redis, as in a deployment).

Per rep, in alternating order, four setups against the same database and bus:
bare (one process), bare x2 (two processes, same split: the most two processes can gain
on this machine), hub (64 connections at hub A alone, hub B idle), hub x2. The customers
are seeded first (warm store, like `ingest`). Afterwards the outbox is left to drain to
Redis, both hubs are SIGKILLed and the store is counted: every 2xx stored exactly once,
with exactly one message.received event, nothing left undispatched.
"""

from __future__ import annotations

import math
import secrets
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from omnihub.hub.bench import pg, targets
from omnihub.hub.bench.base import Benchmark, BenchOptions, Report
from omnihub.hub.bench.cluster_summary import (
    BARE,
    BARE2,
    HUB,
    HUB2,
    ClusterCheck,
    ClusterSummary,
    combine,
    summarize_cluster,
)
from omnihub.hub.bench.ingest import (
    CUSTOMERS,
    SEED_PREFIX,
    SEED_ROUND_SECONDS,
    drop_answered,
)
from omnihub.hub.bench.load import WRK_MISSING, LoadResult, resolve_generator, run_load
from omnihub.hub.bench.payloads import write_requests
from omnihub.hub.bench.procs import LOAD_CPU, CpuWindow, Server, can_pin
from omnihub.hub.bench.summary import Run

# Requests signed per second of run and stream: far above what one hub stores here, so
# no id repeats (a repeat would be deduplicated and hide a lost write; counted if so).
RATE_CEILING = 10_000
SEED_ROUNDS = 24
DRAIN_SECONDS = 60.0


class ClusterBench:
    """Holds the servers, database and counters of one `--only ingest_cluster` run."""

    def __init__(self, options: BenchOptions, workdir: Path, store_url: str) -> None:
        self.options = options
        self.workdir = workdir
        self.store_url = store_url
        self.generator = resolve_generator(options.generator)
        self.pinned = options.pin and can_pin()
        self.prefix = pg.new_stream_prefix()
        self.runs: list[Run] = []
        self.errors: list[str] = []
        self.hub_ok = 0
        self.hub_sent = 0
        self.hub_wraps = 0

    # --- load -----------------------------------------------------------------------

    def split(self, count: int) -> list[int]:
        """`options.connections` shared out over `count` streams (first ones get more)."""
        total = self.options.connections
        return [total // count + (1 if i < total % count else 0) for i in range(count)]

    def drive(self, streams: list[tuple[Server, Path]], duration: float,
              windows: list[CpuWindow] | None = None, counted: bool = True) -> LoadResult:
        """Run one generator per (server, file) side by side; their combined figures."""
        def tick() -> None:
            for window in windows or ():
                window.tick()

        connections = self.split(len(streams))
        with ThreadPoolExecutor(len(streams)) as pool:
            futures = []
            for i, (server, requests_file) in enumerate(streams):
                loaddir = self.workdir / f"load{i}"
                loaddir.mkdir(exist_ok=True)
                futures.append(pool.submit(
                    run_load, self.generator,
                    url=server.url(f"/webhooks/{targets.CHANNEL_ID}"),
                    requests_file=requests_file, workdir=loaddir, duration=duration,
                    connections=connections[i],
                    cpu=LOAD_CPU if self.pinned else None,
                    tick=tick if i == 0 and windows else None))
            results = [future.result() for future in futures]
        result = combine(results)
        names = "+".join(server.name for server, _ in streams)
        if result.non_2xx or result.socket_errors:
            self.errors.append(f"{names}: {result.non_2xx} non-2xx answers and "
                               f"{result.socket_errors} socket errors in {result.requests}")
        if counted and streams[0][0].name.startswith("hub"):
            self.hub_ok += result.ok_answers
            self.hub_sent += result.sent
            self.hub_wraps += result.wraps
        return result

    def request_file(self, name: str, seconds: float, connections: int) -> Path:
        count = math.ceil(RATE_CEILING * seconds) + connections
        return write_requests(
            self.workdir / f"{name}.requests", count=count, secret=targets.CHANNEL_SECRET,
            channel_id=targets.CHANNEL_ID, tag=f"{name}-{secrets.token_hex(4)}",
            customers=CUSTOMERS).path

    def measure(self, setup: str, servers: list[Server], rep: int,
                warm: list[Path], measured: list[Path]) -> None:
        say, opts = self.options.progress, self.options
        if opts.warmup > 0:
            say(f"  rep {rep + 1}: {setup} warm-up {opts.warmup:g}s")
            self.drive(list(zip(servers, warm)), opts.warmup)
        say(f"  rep {rep + 1}: {setup} {opts.duration:g}s")
        windows = [CpuWindow(server) for server in servers]
        result = self.drive(list(zip(servers, measured)), opts.duration, windows)
        used = [window.close() for window in windows]
        cpu = sum(seconds for seconds, _ in used)
        per_request = cpu / result.requests * 1e6 if result.requests else math.nan
        self.runs.append(Run(setup, rep, result, per_request, used[0][1]))

    # --- store ----------------------------------------------------------------------

    def seed(self, hub: Server) -> None:
        """Every bench customer writes once through hub A (warm store, as `ingest`)."""
        seeds = write_requests(
            self.workdir / "seed.requests", count=CUSTOMERS, secret=targets.CHANNEL_SECRET,
            channel_id=targets.CHANNEL_ID, tag=f"{SEED_PREFIX}{secrets.token_hex(4)}",
            customers=CUSTOMERS, customer_order="each").path
        drop_answered(seeds, 0)
        try:
            for round_ in range(SEED_ROUNDS):
                self.options.progress(f"  seeding {CUSTOMERS:,} customers (round {round_ + 1})")
                result = self.drive([(hub, seeds)], SEED_ROUND_SECONDS, counted=False)
                pg.analyze(self.store_url)  # see pg.analyze
                if pg.count_customers(self.store_url) >= CUSTOMERS:
                    return
                drop_answered(seeds, result.requests - 4 * self.options.connections)
            self.errors.append(f"seeding did not store all {CUSTOMERS:,} customers")
        finally:
            seeds.unlink()

    def wait_drained(self) -> int:
        """Outbox rows not yet on the Redis bus, after waiting up to DRAIN_SECONDS."""
        deadline = time.monotonic() + DRAIN_SECONDS
        while True:
            pending = pg.scalar(self.store_url, "SELECT count(*) FROM outbox_pending")
            if pending == 0 or time.monotonic() > deadline:
                return pending
            time.sleep(0.5)

    def check(self, pending: int) -> ClusterCheck:
        measured = "channel_id = :channel AND external_id NOT LIKE :seed"
        params = {"channel": targets.CHANNEL_ID, "seed": SEED_PREFIX + "%"}
        stored = pg.scalar(self.store_url, f"SELECT count(*) FROM messages WHERE {measured}",
                           **params)
        distinct = pg.scalar(
            self.store_url, f"SELECT count(DISTINCT external_id) FROM messages WHERE {measured}",
            **params)
        seeded = pg.scalar(self.store_url, "SELECT count(*) FROM messages WHERE channel_id = "
                           ":channel AND external_id LIKE :seed", **params)
        events = pg.scalar(self.store_url,
                           "SELECT count(*) FROM outbox WHERE type = 'message.received'")
        return ClusterCheck(ok_answers=self.hub_ok, sent=self.hub_sent, stored=stored,
                            distinct=distinct, events=events - seeded, pending=pending,
                            wraps=self.hub_wraps)

    # --- the run --------------------------------------------------------------------

    def run(self) -> Report:
        opts = self.options
        if self.generator == "python" and opts.generator == "auto":
            opts.progress(WRK_MISSING)
        pg.redis_ping()
        loop = targets.hub_event_loop()
        key = targets.new_pii_key()
        common = {"store_url": self.store_url, "bus_url": pg.REDIS_URL,
                  "stream_prefix": self.prefix, "pii_key": key}
        hub_a = targets.start_hub_on(self.workdir, None, name="hub-a", **common)
        servers = [hub_a]
        try:
            hub_a.wait_ready()  # migrates the fresh database before B starts
            hub_b = targets.start_hub_on(self.workdir, None, name="hub-b", **common)
            servers.append(hub_b)
            bares = [targets.start_bare(self.workdir, None, loop, name=name)
                     for name in ("bare-a", "bare-b")]
            servers += bares
            for server in servers:
                server.wait_ready()
            self.seed(hub_a)
            for rep in range(opts.reps):
                self.rep(rep, [hub_a, hub_b], bares)
            pending = self.wait_drained()
        finally:
            for server in servers:
                server.kill()
            pg.redis_cleanup(self.prefix)
        return self.report(summarize_cluster(self.runs), self.check(pending), loop)

    def rep(self, rep: int, hubs: list[Server], bares: list[Server]) -> None:
        opts = self.options
        half = self.split(2)
        one_warm = [self.request_file(f"r{rep}-w", opts.warmup, opts.connections)]
        one = [self.request_file(f"r{rep}-m", opts.duration, opts.connections)]
        two_warm = [self.request_file(f"r{rep}-w{i}", opts.warmup, half[i]) for i in (0, 1)]
        two = [self.request_file(f"r{rep}-m{i}", opts.duration, half[i]) for i in (0, 1)]
        setups = [
            (BARE, bares[:1], one_warm, one),
            (BARE2, bares, two_warm, two),
            (HUB, hubs[:1], one_warm, one),
            (HUB2, hubs, two_warm, two),
        ]
        if rep % 2:
            setups.reverse()
        try:
            for setup, servers, warm, measured in setups:
                self.measure(setup, servers, rep, warm, measured)
        finally:
            for path in [*one_warm, *one, *two_warm, *two]:
                path.unlink()

    def report(self, summary: ClusterSummary, check: ClusterCheck, loop: str) -> Report:
        opts = self.options
        problems = [*self.errors, *check.problems()]
        pin_note = f"wrk pinned to CPU {LOAD_CPU}" if self.pinned else "nothing pinned"
        hub2 = summary.ratio(HUB2, BARE).median
        lines = [
            f"ingest_cluster: two `omnihub serve` on PostgreSQL + Redis Streams, each on its "
            f"own port, {opts.connections} connections split "
            f"{'+'.join(map(str, self.split(2)))} over two wrk; {opts.duration:g}s x "
            f"{opts.reps} rep(s) after {opts.warmup:g}s warm-up; {self.generator}, {loop}, "
            f"{pin_note}; servers, PostgreSQL and Redis unpinned on 2 cores",
            f"warm store: all {CUSTOMERS:,} customers seeded before measuring",
            *summary.table(),
            check.line(),
        ]
        figures = {
            "generator": self.generator, "loop": loop, "pinned_load": self.pinned,
            **summary.as_dict(), "check": check.as_dict(),
            "runs": [run.as_dict() for run in self.runs],
        }
        return Report(
            name="ingest_cluster", lines=lines, figures=figures,
            final_line=(f"ingest_cluster ratio 2-process hub/bare: {hub2:.2f}, "
                        f"2-process/1-process: {summary.ratio(HUB2, HUB).median:.2f}"),
            ok=not problems, problems=problems,
        )


def run(options: BenchOptions) -> Report:
    """Measure in a temporary directory and a fresh database, both removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="omnihub-bench-") as workdir:
        with pg.fresh_database() as store_url:
            return ClusterBench(options, Path(workdir), store_url).run()


INGEST_CLUSTER = Benchmark(
    name="ingest_cluster",
    summary="2 hub processes on PostgreSQL + Redis against 1 and against a bare handler",
    run=run,
)
