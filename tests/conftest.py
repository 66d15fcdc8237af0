"""Shared fixtures: real databases and Redis, each test on a database of its own.

The servers are the real ones on this machine (PostgreSQL, MariaDB, Redis); `make test`
starts any that is down. A missing server fails the test: nothing is skipped.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from aiohttp.test_utils import TestClient, TestServer

from omnihub.store.db import Database, async_url
from omnihub.store.migrate import upgrade

PG_URL = os.environ.get("OMNIHUB_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("OMNIHUB_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("OMNIHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

BACKENDS = ("sqlite", "postgresql", "mysql")


async def _server_database(admin_url: str, *, create: bool, name: str) -> str:
    """Create (or drop) a throwaway database on a server; return its URL."""
    url = async_url(admin_url)
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            if create:
                # Server defaults on purpose: the tables must not depend on them.
                await conn.execute(sa.text(f"CREATE DATABASE {name}"))
            else:
                await conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
    finally:
        await engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture
async def make_store_url(tmp_path: Path) -> AsyncIterator[object]:
    """Factory: `await make_store_url("postgresql")` gives the URL of a fresh empty database."""
    created: list[tuple[str, str]] = []

    async def make(backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / f'store-{uuid.uuid4().hex[:8]}.db'}"
        admin = {"postgresql": PG_URL, "mysql": MYSQL_URL}[backend]
        name = f"omnihub_t_{uuid.uuid4().hex[:12]}"
        url = await _server_database(admin, create=True, name=name)
        created.append((admin, name))
        return url

    yield make
    for admin, name in created:
        await _server_database(admin, create=False, name=name)


@pytest.fixture(params=BACKENDS)
async def store_url(request: pytest.FixtureRequest, make_store_url) -> str:  # type: ignore[no-untyped-def]
    """A fresh empty database on each backend in turn: the same test runs on all three."""
    return await make_store_url(request.param)


@pytest.fixture
async def db(store_url: str) -> AsyncIterator[Database]:
    """A Database with the current schema, on each backend in turn."""
    database = Database(store_url)
    await upgrade(database)
    yield database
    await database.dispose()


@pytest.fixture
def redis_url() -> str:
    return REDIS_URL


StartHub = Callable[[dict[str, Any]], Awaitable[TestClient]]


@pytest.fixture
async def start_hub(tmp_path: Path) -> AsyncIterator[StartHub]:
    """Factory: a whole hub from a hub.yaml mapping, behind aiohttp's test client.

    The mapping goes through the real loader (written out as a file), so tests exercise the
    same validation as `omnihub serve`. `data_dir` and an in-process bus are defaults.
    `client.app` is the application; every hub started is closed after the test.
    """
    from omnihub.hub.app import create_app
    from omnihub.hub.settings import load_hub_settings

    clients: list[TestClient] = []

    async def start(config: dict[str, Any]) -> TestClient:
        full = {"data_dir": str(tmp_path / "data"), "bus": {"url": "memory://"}, **config}
        path = tmp_path / f"hub-{len(clients)}.yaml"
        path.write_text(json.dumps(full))
        client = TestClient(TestServer(create_app(load_hub_settings(path))))
        clients.append(client)  # closed even if it fails to start (its session is open)
        await client.start_server()
        return client

    yield start
    for client in clients:
        await client.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session for a connector under test (its ConnectorContext.http)."""
    async with aiohttp.ClientSession() as session:
        yield session
