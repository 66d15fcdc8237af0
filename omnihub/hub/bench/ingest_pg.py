"""Ingest on PostgreSQL: the SQLite ingest benchmark with the store moved to PostgreSQL.

Everything but the store is the same as `ingest` (same signed requests, same wrk load,
same bare aiohttp baseline in the same run, warm and cold phases, interleaved reps, the
SIGKILL-then-count durability check), so the two ratios compare the stores. The hub is
one `omnihub serve` process pinned to CPU 0 with the in-process bus; PostgreSQL runs on
this machine, unpinned, sharing the cores with wrk (pinned to CPU 1). The database is a
fresh one per run, dropped afterwards.

Target (issue 8): hub/bare >= 0.20 with hub p99 <= 15 ms.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from omnihub.hub.bench import pg, targets
from omnihub.hub.bench.base import Benchmark, BenchOptions, Report
from omnihub.hub.bench.ingest import SEED_PREFIX, IngestBench
from omnihub.hub.bench.procs import SERVER_CPU, Server

TARGET_RATIO = 0.20
TARGET_P99_MS = 15.0


class PgIngestBench(IngestBench):
    """IngestBench whose hub stores into a fresh PostgreSQL database."""

    name = "ingest_pg"
    store_label = "PostgreSQL"
    target_ratio = TARGET_RATIO
    target_p99_ms = TARGET_P99_MS
    seed_rounds = 24  # a shared, loaded machine seeds PostgreSQL slower than SQLite

    def __init__(self, options: BenchOptions, workdir: Path, store_url: str) -> None:
        super().__init__(options, workdir)
        self.store_url = store_url

    def start_hub(self) -> Server:
        return targets.start_hub_on(self.workdir, self.cpu(SERVER_CPU), store_url=self.store_url)

    def seeded_round(self) -> None:
        pg.analyze(self.store_url)

    def stored_customers(self) -> int:
        return pg.count_customers(self.store_url)

    def stored_messages(self) -> int:
        return pg.count_messages(self.store_url, targets.CHANNEL_ID, excluding_prefix=SEED_PREFIX)


def run(options: BenchOptions) -> Report:
    """Measure in a temporary directory and a fresh database, both removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="omnihub-bench-") as workdir:
        with pg.fresh_database() as store_url:
            return PgIngestBench(options, Path(workdir), store_url).run()


INGEST_PG = Benchmark(
    name="ingest_pg",
    summary="durable signed API-channel messages/s on PostgreSQL, hub versus a bare handler",
    run=run,
)
