"""The socket baseline: aiohttp holding WebSockets and answering each frame, nothing else.

Run as `python -m omnihub.hub.bench.bare_ws --port P [--loop uvloop|asyncio]`. Same
Python, aiohttp, event loop and heartbeat as the hub's web chat socket, so hub minus
bare per socket is what omnihub itself keeps for an idle visitor.
"""

from __future__ import annotations

import argparse

from aiohttp import WSMsgType, web

from omnihub.hub.bench.bare import new_loop, ready
from omnihub.hub.bench.memory import raise_nofile

WELCOME = '{"type":"welcome"}'


async def socket(request: web.Request) -> web.WebSocketResponse:
    """Answer every text frame with a welcome, as the hub answers `hello`."""
    ws = web.WebSocketResponse(heartbeat=25.0)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            await ws.send_str(WELCOME)
    return ws


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/ws", socket)
    app.router.add_get("/readyz", ready)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args(argv)
    raise_nofile(65536)
    web.run_app(make_app(), host=args.host, port=args.port, access_log=None, print=None,
                loop=new_loop(args.loop), backlog=4096)


if __name__ == "__main__":
    main()
