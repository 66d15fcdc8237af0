"""PostgreSQL and Redis for the benchmarks: a throwaway database, counts, a clean bus.

Each run gets a database of its own (`CREATE DATABASE omnihub_bench_<random>`, dropped
afterwards, as the tests' fixtures do) and a Redis stream prefix of its own (its keys are
deleted afterwards), so a bench never reads or disturbs anyone else's data. The servers
are the ones in OMNIHUB_BENCH_PG_URL and OMNIHUB_BENCH_REDIS_URL (default: loopback).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from omnihub.hub.bench.procs import ServerFailed
from omnihub.store.db import async_url

# The server's own maintenance database: reachable before ours exists.
PG_ADMIN_URL = os.environ.get("OMNIHUB_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("OMNIHUB_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")

T = TypeVar("T")


class ServiceMissing(ServerFailed):
    """PostgreSQL or Redis is not reachable: say which and how to point the bench at one
    (a ServerFailed, so `omnihub bench` reports it as one line)."""


def _run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def _on(url: str, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    engine = create_async_engine(async_url(url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            return await work(conn)
    finally:
        await engine.dispose()


def database_url(name: str, admin_url: str = PG_ADMIN_URL) -> str:
    """The store URL (plain postgresql://, as a hub.yaml holds it) of database `name`."""
    return sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


@contextlib.contextmanager
def fresh_database(admin_url: str = PG_ADMIN_URL) -> Iterator[str]:
    """A new empty PostgreSQL database for one run; dropped (connections and all) after."""
    name = f"omnihub_bench_{secrets.token_hex(6)}"

    async def create(conn: AsyncConnection) -> None:
        await conn.execute(sa.text(f"CREATE DATABASE {name}"))

    async def drop(conn: AsyncConnection) -> None:
        await conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))

    try:
        _run(_on(admin_url, create))
    except Exception as exc:  # driver errors differ; the message says enough
        raise ServiceMissing(
            f"PostgreSQL at {sa.make_url(admin_url).render_as_string()} is not usable "
            f"({exc.__class__.__name__}: {exc}); set OMNIHUB_BENCH_PG_URL to a server "
            "where this user may CREATE DATABASE") from None
    try:
        yield database_url(name, admin_url)
    finally:
        _run(_on(admin_url, drop))


def scalar(url: str, sql: str, **params: Any) -> int:
    """One integer from the store at `url` (a count), read while the hubs run."""
    async def query(conn: AsyncConnection) -> int:
        return int((await conn.execute(sa.text(sql), params)).scalar_one())

    return _run(_on(url, query))


def analyze(url: str) -> None:
    """Refresh the planner's statistics after seeding.

    A table that was empty a few seconds ago still looks empty to the planner until
    autovacuum analyzes it (up to a minute later), and the hub's prepared lookups were
    then planned as sequential scans: 35-70 ms per batch for the identities lookup on
    10,000 seeded customers. A store in service has current statistics; this makes the
    bench measure that, not the first minute of a new database."""
    async def work(conn: AsyncConnection) -> None:
        await conn.execute(sa.text("ANALYZE"))

    _run(_on(url, work))


def count_messages(url: str, channel_id: str, *, excluding_prefix: str | None = None) -> int:
    """Messages stored for `channel_id`, those with external ids starting with the prefix
    (the seeding messages) left out."""
    sql = "SELECT count(*) FROM messages WHERE channel_id = :channel"
    if excluding_prefix is None:
        return scalar(url, sql, channel=channel_id)
    return scalar(url, sql + " AND external_id NOT LIKE :pattern", channel=channel_id,
                  pattern=excluding_prefix.replace("%", r"\%").replace("_", r"\_") + "%")


def count_customers(url: str) -> int:
    return scalar(url, "SELECT count(*) FROM customers")


def new_stream_prefix() -> str:
    """A Redis key prefix of this run's own (the bus's `stream_prefix`)."""
    return f"omnihub-bench-{secrets.token_hex(4)}"


def redis_ping(url: str = REDIS_URL) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ServiceMissing(f"Redis at {url} is not reachable ({exc}); set "
                             "OMNIHUB_BENCH_REDIS_URL") from None
    finally:
        client.close()


def redis_cleanup(prefix: str, url: str = REDIS_URL) -> int:
    """Delete the run's streams and leases (every key under `prefix`); how many went."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        return len(keys)
    finally:
        client.close()
