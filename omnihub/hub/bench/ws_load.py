"""A process that holds many idle web chat sockets open, for the socket memory benchmark.

Run as `python -m omnihub.hub.bench.ws_load --url ws://… --count N [--hello]`. It opens
N WebSockets (a few hundred handshakes at a time), sends each the widget's `hello` frame
and waits for the first answer (the hub's `welcome`), then prints one JSON line
`{"open": n, "failed": m}` and holds them, answering pings, until a line arrives on
stdin; then it closes them and prints `{"closed": n}`. It runs apart from the server
under test so that the server's RSS holds the server's side of each socket only.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import aiohttp
import orjson

from omnihub.hub.bench.bare import new_loop
from omnihub.hub.bench.memory import raise_nofile

HELLO = orjson.dumps({"type": "hello"})


class Holder:
    """The open sockets and a reader task per socket (so pings are answered)."""

    def __init__(self, url: str, hello: bool) -> None:
        self.url = url
        self.hello = hello
        self.sockets: list[aiohttp.ClientWebSocketResponse] = []
        self.readers: list[asyncio.Task[None]] = []
        self.failed = 0
        self.first_error = ""

    async def open_one(self, session: aiohttp.ClientSession, gate: asyncio.Semaphore) -> None:
        async with gate:
            try:
                ws = await session.ws_connect(self.url, autoping=True, heartbeat=None,
                                              timeout=aiohttp.ClientWSTimeout(ws_receive=60))
                if self.hello:
                    await ws.send_str(HELLO.decode())
                    reply = await ws.receive(timeout=60)
                    if reply.type != aiohttp.WSMsgType.TEXT:
                        raise RuntimeError(f"expected a welcome frame, got {reply.type!r}")
            except Exception as exc:  # counted and reported; one refusal must not stop the run
                self.failed += 1
                self.first_error = self.first_error or f"{type(exc).__name__}: {exc}"
                return
        self.sockets.append(ws)
        self.readers.append(asyncio.create_task(self.drain(ws)))

    @staticmethod
    async def drain(ws: aiohttp.ClientWebSocketResponse) -> None:
        """Read (and drop) whatever comes; receive() is where aiohttp answers pings."""
        while True:
            msg = await ws.receive()
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                            aiohttp.WSMsgType.ERROR):
                return

    async def close_all(self) -> int:
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)
        closed = 0
        for start in range(0, len(self.sockets), 500):
            batch = self.sockets[start:start + 500]
            results = await asyncio.gather(*(ws.close() for ws in batch), return_exceptions=True)
            closed += sum(1 for r in results if r is True)
        return closed


async def run(url: str, count: int, hello: bool, concurrency: int) -> None:
    holder = Holder(url, hello)
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        gate = asyncio.Semaphore(concurrency)
        await asyncio.gather(*(holder.open_one(session, gate) for _ in range(count)))
        print(orjson.dumps({"open": len(holder.sockets), "failed": holder.failed,
                            "error": holder.first_error}).decode(), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        closed = await holder.close_all()
        print(orjson.dumps({"closed": closed}).decode(), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--hello", action="store_true", help="send the widget's hello first")
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="asyncio")
    args = parser.parse_args(argv)
    raise_nofile(args.count + 1024)
    loop = new_loop(args.loop)
    try:
        loop.run_until_complete(run(args.url, args.count, args.hello, args.concurrency))
    finally:
        loop.close()


if __name__ == "__main__":
    main()
