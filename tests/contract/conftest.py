"""Contract fixtures shared by the connectors: the provider stand-ins' servers.

Each connector's tests talk to a stand-in (stand_in.py) that speaks the provider's real
HTTP API. `serve_stand_in` runs one on a free loopback port for the test and closes it
afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import Protocol, TypeVar

import pytest
from aiohttp.test_utils import TestServer
from stand_in import StandIn

S = TypeVar("S", bound=StandIn)


class ServeStandIn(Protocol):
    def __call__(self, fake: S) -> Awaitable[S]: ...


@pytest.fixture
async def serve_stand_in() -> AsyncIterator[ServeStandIn]:
    """Factory: `await serve_stand_in(FakeX())` starts the stand-in and returns it."""
    servers: list[TestServer] = []

    async def serve(fake: S) -> S:
        fake.server = server = TestServer(fake.app())
        servers.append(server)  # closed even if it fails to start
        await server.start_server()
        return fake

    yield serve
    for server in servers:
        await server.close()
