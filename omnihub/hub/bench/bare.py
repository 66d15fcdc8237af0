"""The baseline server: aiohttp reading the body and answering 200, nothing else.

Run as `python -m omnihub.hub.bench.bare --port P [--loop uvloop|asyncio]`. It runs on
the same Python, aiohttp and event loop as the hub, so hub/bare cancels out the
machine and leaves the cost of omnihub's own work.
"""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import web

OK = b'{"ok":true}'


async def accept(request: web.Request) -> web.Response:
    """Read the whole body, as the hub must, then say yes."""
    await request.read()
    return web.Response(body=OK, content_type="application/json")


async def ready(request: web.Request) -> web.Response:
    """The same readiness probe path as the hub's, so one poller serves both."""
    return web.Response(body=OK, content_type="application/json")


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/webhooks/{channel_id}", accept)
    app.router.add_get("/readyz", ready)
    return app


def new_loop(name: str) -> asyncio.AbstractEventLoop:
    """The event loop the hub runs on (uvloop where installed, as the hub does)."""
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args(argv)
    web.run_app(
        make_app(),
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
        loop=new_loop(args.loop),
    )


if __name__ == "__main__":
    main()
