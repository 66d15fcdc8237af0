"""Ingest: signed API-channel messages into the hub, against a bare aiohttp handler.

Two phases, both reported:

- warm store (the headline): before anything is measured, every one of the bench's
  customers writes once, so the measured messages come from returning customers, as
  most real traffic does (a message and its event; the customer and the conversation
  exist);
- cold store: every message comes from a customer the hub has never seen (a customer,
  an identity and a conversation more per message), the worst case.

Per rep, fresh request files are signed and replayed at both servers (the order
alternates between reps so drift hits both alike). The figure that travels between
machines is the ratio hub/bare of the same rep and phase. Afterwards the hub is
SIGKILLed and its store counted: every 2xx must be on disk.
"""

from __future__ import annotations

import math
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

from omnihub.hub.bench import targets
from omnihub.hub.bench.base import Benchmark, BenchOptions, Report
from omnihub.hub.bench.disk import describe, fdatasync_latency
from omnihub.hub.bench.latency_stats import Latencies
from omnihub.hub.bench.load import WRK_MISSING, LoadResult, resolve_generator, run_load
from omnihub.hub.bench.payloads import read_requests, write_requests
from omnihub.hub.bench.procs import LOAD_CPU, SERVER_CPU, CpuWindow, Server, can_pin
from omnihub.hub.bench.summary import TARGET_P99_MS, TARGET_RATIO, IngestSummary, Run, summarize

# Requests signed per second of run: above this the file wraps, and a repeated
# external_id would be deduplicated by the hub (the report then says so).
RATE_CEILING = 20_000
CUSTOMERS = 10_000  # senders of the warm phase; each is seeded once before measuring
SEED_PREFIX = "seed-"  # external ids of the seeding messages (not counted as measured)
SEED_ROUND_SECONDS = 5.0
SEED_ROUNDS = 12


def drop_answered(requests_file: Path, answered: int) -> None:
    """Rewrite a seeding file without its first `answered` requests (at least one is
    kept), the new first request written twice.

    Each seeding round starts the generator at the top of the file again; on a machine
    storing fewer than CUSTOMERS / SEED_ROUND_SECONDS messages a second, every round would
    resend the same first customers as duplicates and the seeding would never finish.
    Callers pass the answers minus a margin of a few times the connections: a request
    still in flight when the generator stopped (its connection closed, the hub may have
    dropped it) must be sent again; a repeat is deduplicated. The doubled first request:
    wrk calls the script's request() once before it connects (script_verify_request) and
    never sends what it got, so without a spare the first customer is never seeded.
    `answered=0` just adds the spare (do that once to a fresh file).
    """
    records = list(read_requests(requests_file))
    keep = records[min(max(answered, 0), len(records) - 1):]
    with requests_file.open("wb") as out:
        for request in [keep[0], *keep]:
            out.write(b"%d\n%b" % (len(request), request))


class IngestBench:
    """Holds the servers and counters of one `omnihub bench --only ingest` run.

    The store is a SQLite file; a subclass for another store (ingest_pg) overrides
    `start_hub`, `stored_customers`, `stored_messages` and the name and target below.
    """

    name = "ingest"
    store_label = "SQLite"
    target_ratio = TARGET_RATIO
    target_p99_ms = TARGET_P99_MS
    seed_rounds = SEED_ROUNDS

    def __init__(self, options: BenchOptions, workdir: Path) -> None:
        self.options = options
        self.workdir = workdir
        self.generator = resolve_generator(options.generator)
        self.pinned = options.pin and can_pin()
        self.runs: list[Run] = []  # warm store
        self.cold_runs: list[Run] = []
        self.hub_ok_answers = 0
        self.hub_wraps = 0
        self.errors: list[str] = []
        self.disk: Latencies | None = None  # the store disk's fdatasync, measured first
        self.db_path = workdir / "hub-data" / "omnihub.db"

    def start_hub(self) -> Server:
        """The hub under test on a fresh store."""
        hub, self.db_path = targets.start_hub(self.workdir, self.cpu(SERVER_CPU))
        return hub

    def stored_customers(self) -> int:
        return targets.count_customers(self.db_path)

    def stored_messages(self) -> int:
        """Measured messages in the store (the seeding ones left out)."""
        return targets.count_messages(self.db_path, excluding_prefix=SEED_PREFIX)

    def cpu(self, which: int) -> int | None:
        return which if self.pinned else None

    def drive(
        self, server: Server, requests_file: Path, duration: float,
        tick: Callable[[], None] | None = None, counted: bool = True,
    ) -> LoadResult:
        """One closed-loop run; unless not `counted` (seeding, which replays its file until
        every customer is in), every answer counts toward the correctness checks."""
        result = run_load(
            self.generator, url=server.url(f"/webhooks/{targets.CHANNEL_ID}"),
            requests_file=requests_file, workdir=self.workdir, duration=duration,
            connections=self.options.connections, cpu=self.cpu(LOAD_CPU), tick=tick,
        )
        if result.non_2xx or result.socket_errors:
            self.errors.append(
                f"{server.name}: {result.non_2xx} non-2xx answers and "
                f"{result.socket_errors} socket errors in {result.requests} requests"
            )
        if server.name == "hub" and counted:
            self.hub_ok_answers += result.ok_answers
            self.hub_wraps += result.wraps
        return result

    def request_file(self, name: str, seconds: float, *, cold: bool = False) -> Path:
        """Sign requests for `seconds` at the rate ceiling, right before they are used;
        `cold`: every request from a new customer."""
        count = math.ceil(RATE_CEILING * seconds) + self.options.connections
        written = write_requests(
            self.workdir / f"{name}.requests", count=count, secret=targets.CHANNEL_SECRET,
            channel_id=targets.CHANNEL_ID, tag=f"{name}-{secrets.token_hex(4)}",
            customers=None if cold else CUSTOMERS,
        )
        return written.path

    def seed(self, hub: Server) -> None:
        """Every bench customer writes once, so the warm phase measures returning ones."""
        say = self.options.progress
        seeds = write_requests(
            self.workdir / "seed.requests", count=CUSTOMERS, secret=targets.CHANNEL_SECRET,
            channel_id=targets.CHANNEL_ID, tag=f"{SEED_PREFIX}{secrets.token_hex(4)}",
            customers=CUSTOMERS, customer_order="each",
        ).path
        drop_answered(seeds, 0)
        try:
            for round_ in range(self.seed_rounds):
                say(f"  seeding {CUSTOMERS:,} customers (round {round_ + 1})")
                result = self.drive(hub, seeds, SEED_ROUND_SECONDS, counted=False)
                self.seeded_round()
                if self.stored_customers() >= CUSTOMERS:
                    return
                # the next round goes on from there (see drop_answered)
                drop_answered(seeds, result.requests - 4 * self.options.connections)
            self.errors.append(f"seeding did not store all {CUSTOMERS:,} customers in "
                               f"{self.seed_rounds * SEED_ROUND_SECONDS:g}s; the warm figures are "
                               "not warm")
        finally:
            seeds.unlink()

    def seeded_round(self) -> None:
        """Called after each seeding round (the PostgreSQL bench refreshes statistics)."""

    def measure(self, server: Server, rep: int, warm: Path | None, measured: Path,
                into: list[Run]) -> None:
        """Warm up (given a file), then one measured run whose server CPU is charged to
        its requests."""
        say = self.options.progress
        phase = "warm store" if into is self.runs else "cold store"
        if warm is not None and self.options.warmup > 0:
            say(f"  rep {rep + 1}: {server.name} warm-up {self.options.warmup:g}s")
            self.drive(server, warm, self.options.warmup)
        say(f"  rep {rep + 1}: {server.name} {phase} {self.options.duration:g}s")
        window = CpuWindow(server)
        result = self.drive(server, measured, self.options.duration, tick=window.tick)
        cpu_used, busy = window.close()
        per_request = cpu_used / result.requests * 1e6 if result.requests else math.nan
        into.append(Run(server.name, rep, result, per_request, busy))

    def run(self) -> Report:
        opts = self.options
        if self.generator == "python" and opts.generator == "auto":
            opts.progress(WRK_MISSING)
        loop = targets.hub_event_loop()
        self.disk = fdatasync_latency(self.workdir)
        hub = self.start_hub()
        bare = targets.start_bare(self.workdir, self.cpu(SERVER_CPU), loop)
        try:
            hub.wait_ready()
            bare.wait_ready()
            self.seed(hub)
            for rep in range(opts.reps):
                order = (bare, hub) if rep % 2 == 0 else (hub, bare)
                warm = self.request_file(f"rep{rep}-warm", opts.warmup)
                measured = self.request_file(f"rep{rep}", opts.duration)
                for server in order:
                    self.measure(server, rep, warm, measured, self.runs)
                warm.unlink()  # a few hundred MB per rep: do not let them pile up
                measured.unlink()
                cold = self.request_file(f"rep{rep}-cold", opts.duration, cold=True)
                for server in order:  # warm already: no warm-up of its own
                    self.measure(server, rep, None, cold, self.cold_runs)
                cold.unlink()
        finally:
            hub.kill()
            bare.kill()
        stored = self.stored_messages()
        target = {"target_ratio": self.target_ratio, "target_p99_ms": self.target_p99_ms}
        summary = summarize(self.runs, stored=stored, ok_answers=self.hub_ok_answers, **target)
        cold_summary = summarize(self.cold_runs, stored=stored, ok_answers=self.hub_ok_answers,
                                 **target)
        return self.report(summary, loop, cold_summary)

    def report(self, summary: IngestSummary, loop: str,
               cold: IngestSummary | None = None) -> Report:
        """`summary` is the warm store's (the headline); `cold` the cold store's."""
        opts = self.options
        pin_note = (
            f"pinned: server CPU {SERVER_CPU}, load CPU {LOAD_CPU}" if self.pinned else "not pinned"
        )
        heading = (
            f"{self.name}: signed API-channel messages into {self.store_label}, "
            f"{opts.connections} connections, "
            f"{opts.duration:g}s x {opts.reps} rep(s) after {opts.warmup:g}s warm-up; "
            f"{self.generator}, {loop}, {pin_note}"
        )
        problems = list(self.errors)
        if self.hub_wraps:
            problems.append(
                f"the hub outran the {RATE_CEILING}/s request file and saw repeated ids "
                f"{self.hub_wraps} time(s); the durability count is not conclusive"
            )
        elif not summary.durable:
            problems.append(
                f"only {summary.stored} messages stored for {summary.ok_answers} 2xx answers"
            )
        lines = [
            heading,
            *([describe(self.disk)] if self.disk is not None else []),
            f"warm store (headline): all {CUSTOMERS:,} customers seeded before measuring; "
            "every message from a returning customer",
            *summary.table(),
        ]
        figures = {
            "store": self.store_label,
            "generator": self.generator, "loop": loop, "pinned": self.pinned,
            "rate_ceiling": RATE_CEILING, "phase": "warm store", **summary.as_dict(),
            "runs": [run.as_dict() for run in self.runs],
        }
        if self.disk is not None:
            figures["disk_fdatasync"] = self.disk.as_dict()
        if cold is not None:
            lines += [
                "cold store: every message from a new customer (customer, identity and "
                "conversation created per message)",
                *cold.figures_table(),
                *cold.noise_warning(),
                f"cold store (every message a new customer) ratio hub/bare: "
                f"{cold.ratio.median:.2f}",
                f"warm store (returning customers) ratio hub/bare: {summary.ratio.median:.2f}",
            ]
            figures["cold"] = {**cold.as_dict(),
                               "runs": [run.as_dict() for run in self.cold_runs]}
        return Report(
            name=self.name,
            lines=lines,
            figures=figures,
            final_line=f"{self.name} ratio hub/bare: {summary.ratio.median:.2f}",
            ok=not problems,
            problems=problems,
        )


def run(options: BenchOptions) -> Report:
    """Measure ingest in a temporary directory that is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="omnihub-bench-") as workdir:
        return IngestBench(options, Path(workdir)).run()


INGEST = Benchmark(
    name="ingest",
    summary="durable signed API-channel messages/s, hub versus a bare aiohttp handler",
    run=run,
)
