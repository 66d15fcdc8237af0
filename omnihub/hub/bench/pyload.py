"""Fallback closed-loop load generator, for machines without wrk.

Run as `python -m omnihub.hub.bench.pyload --url URL --file F --duration S`. Each of
`--connections` keep-alive connections sends the next pre-built request as soon as the
previous answer arrived, like wrk does; it prints the same `omnihub-bench` line as the
wrk script so both are parsed alike. It is far slower than wrk: expect it to cap the
bare baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from urllib.parse import urlsplit

from omnihub.hub.bench.payloads import read_requests
from omnihub.hub.bench.stats import percentile


class Replay:
    """Shared state of one run: the next request to send and what came back."""

    def __init__(self, requests: list[bytes], deadline: float) -> None:
        self.requests = requests
        self.deadline = deadline
        self.next_index = 0
        self.sent = 0
        self.wraps = 0
        self.latencies_us: list[float] = []
        self.status_errors = 0
        self.socket_errors = 0

    def take(self) -> bytes:
        if self.next_index == len(self.requests):
            self.next_index = 0
            self.wraps += 1
        request = self.requests[self.next_index]
        self.next_index += 1
        self.sent += 1
        return request


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response (content-length or chunked); return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    return status


async def connection(replay: Replay, host: str, port: int) -> None:
    """One keep-alive connection sending back to back until the deadline."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        replay.socket_errors += 1
        return
    try:
        while time.perf_counter() < replay.deadline:
            request = replay.take()
            started = time.perf_counter()
            writer.write(request)
            status = await read_response(reader)
            replay.latencies_us.append((time.perf_counter() - started) * 1e6)
            if status >= 400:
                replay.status_errors += 1
    except (OSError, asyncio.IncompleteReadError, ValueError):
        replay.socket_errors += 1
    finally:
        writer.close()


async def run(url: str, requests: list[bytes], duration: float, connections: int) -> str:
    """Drive the server for `duration` seconds; return the figures line."""
    parts = urlsplit(url)
    started = time.perf_counter()
    replay = Replay(requests, started + duration)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    await asyncio.gather(*(connection(replay, host, port) for _ in range(connections)))
    elapsed_us = (time.perf_counter() - started) * 1e6
    ordered = sorted(replay.latencies_us) or [0.0]
    return (
        f"omnihub-bench requests={len(replay.latencies_us)} duration_us={elapsed_us:.0f} "
        f"p50_us={percentile(ordered, 50):.0f} p90_us={percentile(ordered, 90):.0f} "
        f"p99_us={percentile(ordered, 99):.0f} max_us={ordered[-1]:.0f} "
        f"status_errors={replay.status_errors} socket_errors={replay.socket_errors} "
        f"sent={replay.sent} wraps={replay.wraps}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--file", type=Path, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args(argv)
    requests = list(read_requests(args.file))
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    print(runner(run(args.url, requests, args.duration, args.connections)), flush=True)


if __name__ == "__main__":
    main()
