"""What every provider stand-in shares: the server it runs on and its base URL.

A stand-in speaks a provider's real HTTP API on a local port (the edge to the internet is
the one place a fake is allowed); `serve_stand_in` (tests/contract/conftest.py) starts it.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestServer

__all__ = ["StandIn"]


class StandIn:
    """Base of the stand-ins: `app()` is the provider's API, `url` where it answers."""

    #: set by `serve_stand_in` once the app is served
    server: TestServer | None = None

    @property
    def url(self) -> str:
        """The base URL (no trailing slash) to give the connector as `api_base_url`."""
        assert self.server is not None, "start the stand-in with serve_stand_in first"
        return str(self.server.make_url("")).rstrip("/")

    def app(self) -> web.Application:
        raise NotImplementedError
