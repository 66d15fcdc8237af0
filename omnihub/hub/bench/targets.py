"""The two servers the ingest benchmark compares: omnihub itself and the bare handler."""

from __future__ import annotations

import sqlite3
from contextlib import closing
import sys
from pathlib import Path

from omnihub.hub.bench.procs import Server, free_port, start_server

CHANNEL_ID = "bench"
# A throwaway secret for a throwaway store; it signs nothing outside this run.
CHANNEL_SECRET = "bench-secret-0123456789abcdef"

HUB_CONFIG = """\
server: {{host: 127.0.0.1, port: {port}}}
data_dir: {data_dir}
store: {{url: "{store_url}"}}
bus: {{url: "{bus_url}", stream_prefix: "{stream_prefix}"}}
channels:
  - {{id: {channel_id}, type: api, secret: "{secret}"}}
"""

# Runs the installed CLI with this very interpreter, whatever PATH says.
CLI = ["-c", "import sys; from omnihub.hub.cli import main; sys.exit(main())"]


def hub_event_loop() -> str:
    """The event loop `omnihub serve` runs on, so the baseline runs on the same one."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def write_hub_config(
    workdir: Path, port: int, *, store_url: str | None = None, bus_url: str = "memory://",
    stream_prefix: str = "omnihub", name: str = "hub",
) -> tuple[Path, Path]:
    """A hub.yaml in `workdir`; returns (config, SQLite database path). The store is a
    fresh SQLite file in the data directory unless `store_url` names another (then the
    returned path does not exist); several hubs of one cluster share `store_url` and
    `bus_url` but each has a `name` (config file and data directory) of its own."""
    data_dir = workdir / f"{name}-data"
    data_dir.mkdir(exist_ok=True)
    db_path = data_dir / "omnihub.db"
    config = workdir / f"{name}.yaml"
    config.write_text(
        HUB_CONFIG.format(
            port=port, data_dir=data_dir, store_url=store_url or f"sqlite:///{db_path}",
            bus_url=bus_url, stream_prefix=stream_prefix,
            channel_id=CHANNEL_ID, secret=CHANNEL_SECRET,
        )
    )
    return config, db_path


def start_hub_on(workdir: Path, cpu: int | None, *, store_url: str, name: str = "hub",
                 bus_url: str = "memory://", stream_prefix: str = "omnihub",
                 pii_key: str | None = None) -> Server:
    """`omnihub serve` on an existing store (PostgreSQL for the bench). Hubs sharing one
    store must share its contact-data key (the blind index finds returning customers):
    give them the same `pii_key` (base64 of 32 bytes, see `new_pii_key`)."""
    port = free_port()
    config, _ = write_hub_config(workdir, port, store_url=store_url, bus_url=bus_url,
                                 stream_prefix=stream_prefix, name=name)
    if pii_key is not None:
        config.write_text(config.read_text() + f'security: {{pii_key: "{pii_key}"}}\n')
    argv = [
        sys.executable, *CLI, "serve", "--config", str(config),
        "--host", "127.0.0.1", "--port", str(port),
    ]
    return start_server(name, argv, port=port, log=workdir / f"{name}.log", cpu=cpu,
                        cwd=workdir)


def start_hub(workdir: Path, cpu: int | None) -> tuple[Server, Path]:
    """`omnihub serve` on a temporary SQLite store; returns the server and its database."""
    server, _, db_path = start_hub_with(workdir, cpu)
    return server, db_path


def start_hub_with(workdir: Path, cpu: int | None, extra_config: str = ""
                   ) -> tuple[Server, Path, Path]:
    """`omnihub serve` on a temporary SQLite store with `extra_config` (hub.yaml text)
    appended; returns the server, its config file and its database."""
    port = free_port()
    config, db_path = write_hub_config(workdir, port)
    if extra_config:
        config.write_text(config.read_text() + extra_config)
    argv = [
        sys.executable, *CLI, "serve", "--config", str(config),
        "--host", "127.0.0.1", "--port", str(port),
    ]
    server = start_server("hub", argv, port=port, log=workdir / "hub.log", cpu=cpu, cwd=workdir)
    return server, config, db_path


def new_pii_key() -> str:
    """A throwaway contact-data key for a throwaway store, shared by a bench cluster."""
    import base64
    import os

    return base64.b64encode(os.urandom(32)).decode()


def start_bare(workdir: Path, cpu: int | None, loop: str, name: str = "bare") -> Server:
    """The bare aiohttp baseline on the hub's event loop."""
    port = free_port()
    argv = [sys.executable, "-m", "omnihub.hub.bench.bare", "--port", str(port), "--loop", loop]
    return start_server(name, argv, port=port, log=workdir / f"{name}.log", cpu=cpu,
                        cwd=workdir)


def count_messages(db_path: Path, channel_id: str = CHANNEL_ID, *,
                   excluding_prefix: str | None = None) -> int:
    """Messages the hub stored for the bench channel, read straight from the SQLite file;
    those whose external id starts with `excluding_prefix` are not counted."""
    if not db_path.exists():
        return 0
    sql = "SELECT count(*) FROM messages WHERE channel_id = ?"
    params: tuple[str | int, ...] = (channel_id,)
    if excluding_prefix is not None:
        sql += " AND substr(external_id, 1, ?) != ?"
        params += (len(excluding_prefix), excluding_prefix)
    with closing(sqlite3.connect(db_path)) as conn:
        (count,) = conn.execute(sql, params).fetchone()
    return int(count)


def count_customers(db_path: Path) -> int:
    """Customers in the hub's store (read while it runs: WAL lets a reader in)."""
    if not db_path.exists():
        return 0
    with closing(sqlite3.connect(db_path, timeout=10)) as conn:
        (count,) = conn.execute("SELECT count(*) FROM customers").fetchone()
    return int(count)
