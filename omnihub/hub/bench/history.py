"""History: the first page of a customer's history when the customer has 100,000 messages.

For SQLite and then PostgreSQL (a fresh database): `omnihub serve` (pinned to CPU 0)
ingests the customer's first message through its signed webhook, then 99,999 more are
bulk-inserted (see history_store), and two levels are timed:

- the store call `customer_history(customer, limit=50)` in the bench process, against
  `SELECT 1` in a read transaction, interleaved, for --duration seconds;
- GET /api/v1/customers/{id}/history (first page, default limit 50) over one keep-alive
  connection with wrk pinned to CPU 1, against GET /api/v1/customers/{id} (a trivial
  authenticated GET of the same hub) and the bare handler's GET, --duration each.

Targets (issue 8): store-call p99 <= 1 ms on SQLite, <= 2 ms on PostgreSQL. The query's
plan is printed beside the figures (EXPLAIN; on PostgreSQL with its execution time).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from omnihub.hub.bench import pg, targets
from omnihub.hub.bench.bare import new_loop
from omnihub.hub.bench.base import Benchmark, BenchOptions, Report
from omnihub.hub.bench.history_store import customer_of, explain, seed_messages, store_timings
from omnihub.hub.bench.history_summary import (
    HTTP_BARE,
    HTTP_BASELINE,
    HTTP_CALL,
    HistoryFigures,
    from_load,
)
from omnihub.hub.bench.load import LoadResult, resolve_generator, run_load
from omnihub.hub.bench.payloads import build_body
from omnihub.hub.bench.procs import LOAD_CPU, SERVER_CPU, Server, can_pin
from omnihub.hub.signing import sign
from omnihub.store.db import Database

MESSAGES = 100_000
OTHER_CUSTOMERS = 20  # as many messages again, from these, interleaved with the customer's
FIRST_ID = "history-first"
SEED_TAG = "history-seed"


def get_request(path: str, token: str | None) -> bytes:
    """One raw keep-alive GET, as the request files hold them."""
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n".encode()


def write_get_file(path: Path, request: bytes) -> Path:
    path.write_bytes(b"%d\n%b" % (len(request), request))
    return path


def other_id(n: int) -> str:
    return f"history-other-{n:03d}"


def post_first_message(hub: Server, external_id: str = FIRST_ID,
                       customer: str = "history-customer") -> None:
    """A customer's first message, through the hub's signed webhook like any other."""
    body = build_body(external_id, customer, "Where is my parcel? (history bench)")
    request = urllib.request.Request(
        hub.url(f"/webhooks/{targets.CHANNEL_ID}"), data=body, method="POST",
        headers={"Content-Type": "application/json",
                 "Omnihub-Signature": sign(targets.CHANNEL_SECRET, body)})
    with urllib.request.urlopen(request, timeout=30) as response:
        if response.status != 200:
            raise RuntimeError(f"the first message got {response.status}")


@contextlib.contextmanager
def pinned_to(cpu: int | None) -> Iterator[None]:
    """This process on `cpu` for the block (the store calls run where the hub would)."""
    if cpu is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


class HistoryBench:
    """One backend's run: hub, seed, EXPLAIN, store timings, HTTP timings."""

    def __init__(self, options: BenchOptions, workdir: Path) -> None:
        self.options = options
        self.workdir = workdir
        self.generator = resolve_generator(options.generator)
        self.pinned = options.pin and can_pin()
        self.loop = targets.hub_event_loop()

    def cpu(self, which: int) -> int | None:
        return which if self.pinned else None

    def http(self, server: Server, request: bytes, name: str) -> LoadResult:
        requests_file = write_get_file(self.workdir / f"{name}.requests", request)
        return run_load(self.generator, url=server.url("/"), requests_file=requests_file,
                        workdir=self.workdir, duration=self.options.duration, connections=1,
                        cpu=self.cpu(LOAD_CPU))

    def store_side(self, store_url: str) -> tuple[str, float, list[str], dict]:  # type: ignore[type-arg]
        """Seed, explain and time the store call in one event loop of the hub's kind."""
        async def work() -> tuple[str, float, list[str], dict]:  # type: ignore[type-arg]
            db = Database(store_url)
            try:
                template = await customer_of(db, targets.CHANNEL_ID, FIRST_ID)
                others = [await customer_of(db, targets.CHANNEL_ID, other_id(n))
                          for n in range(OTHER_CUSTOMERS)]
                seconds = await seed_messages(db, template, MESSAGES - 1, SEED_TAG, others)
                customer_id = template["customer_id"]
                plan = await explain(db, customer_id)
                with pinned_to(self.cpu(SERVER_CPU)):
                    timings = await store_timings(db, customer_id, self.options.duration)
                return customer_id, seconds, plan, timings
            finally:
                await db.dispose()

        loop = new_loop(self.loop)
        try:
            return loop.run_until_complete(work())
        finally:
            loop.close()

    def run_backend(self, backend: str, store_url: str, bare: Server) -> HistoryFigures:
        from omnihub.hub.bench.latency import create_token

        say = self.options.progress
        hub = targets.start_hub_on(self.workdir, self.cpu(SERVER_CPU), store_url=store_url,
                                   name=f"hub-{backend}")
        try:
            hub.wait_ready()
            post_first_message(hub)
            for n in range(OTHER_CUSTOMERS):
                post_first_message(hub, other_id(n), other_id(n))
            say(f"  {backend}: seeding {MESSAGES:,} messages, timing the store call "
                f"{self.options.duration:g}s")
            customer_id, seconds, plan, store = self.store_side(store_url)
            token = create_token(self.workdir / f"hub-{backend}.yaml")
            say(f"  {backend}: timing the HTTP GETs ({self.options.duration:g}s each)")
            base = f"/api/v1/customers/{customer_id}"
            loads = {
                HTTP_CALL: self.http(hub, get_request(f"{base}/history", token), "history"),
                HTTP_BASELINE: self.http(hub, get_request(base, token), "customer"),
                HTTP_BARE: self.http(bare, get_request("/readyz", None), "bare"),
            }
        finally:
            hub.kill()
        return HistoryFigures(
            backend=backend, messages=MESSAGES, other_messages=MESSAGES - 1 + OTHER_CUSTOMERS,
            seed_seconds=seconds, store=store,
            http={name: from_load(r.p50_ms, r.p99_ms, r.max_ms, r.requests)
                  for name, r in loads.items()},
            plan=plan, http_errors=sum(r.non_2xx + r.socket_errors for r in loads.values()),
        )

    def run(self) -> Report:
        bare = targets.start_bare(self.workdir, self.cpu(SERVER_CPU), self.loop)
        results: list[HistoryFigures] = []
        try:
            bare.wait_ready()
            sqlite_url = f"sqlite:///{self.workdir / 'history.db'}"
            results.append(self.run_backend("sqlite", sqlite_url, bare))
            with pg.fresh_database() as pg_url:
                results.append(self.run_backend("postgresql", pg_url, bare))
        finally:
            bare.kill()
        return self.report(results)

    def report(self, results: list[HistoryFigures]) -> Report:
        pin_note = (f"pinned: hub and store calls CPU {SERVER_CPU}, wrk CPU {LOAD_CPU}"
                    if self.pinned else "not pinned")
        problems = [f"{r.backend}: {r.http_errors} HTTP errors or non-2xx answers"
                    for r in results if r.http_errors]
        lines = [f"history: first page (50) of a customer with {MESSAGES:,} messages, "
                 f"{OTHER_CUSTOMERS} other customers' as many again; "
                 f"{self.options.duration:g}s per figure; {self.generator}, {self.loop}, "
                 f"{pin_note}; seeded with the store's BulkInsert"]
        for result in results:
            lines += result.lines()
        return Report(
            name="history", lines=lines,
            figures={"generator": self.generator, "loop": self.loop, "pinned": self.pinned,
                     **{r.backend: r.as_dict() for r in results}},
            final_line="history first page " + "; ".join(r.final() for r in results),
            ok=not problems, problems=problems,
        )


def run(options: BenchOptions) -> Report:
    with tempfile.TemporaryDirectory(prefix="omnihub-bench-") as workdir:
        return HistoryBench(options, Path(workdir)).run()


HISTORY = Benchmark(
    name="history",
    summary="first page of a 100,000-message history, SQLite and PostgreSQL, p50/p99",
    run=run,
)
