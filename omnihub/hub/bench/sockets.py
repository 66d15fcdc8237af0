"""RSS per idle web chat socket: the hub holding 10,000 visitors against bare aiohttp.

A separate load process (ws_load.py) opens the sockets, says `hello` on each and waits
for the welcome, so every socket is a signed-in anonymous visitor with nothing to say.
The server's RSS is read after a small warm-up round (so code paths and buffers that
any first socket brings are already there) and again with all sockets open; the
difference over the socket count is the cost of one idle visitor. The same load process
then holds as many sockets on a bare aiohttp WebSocket server with the same heartbeat:
the baseline of the same run. Target (issue 8): <= 30 KiB per socket on the hub.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from omnihub.hub.bench import targets
from omnihub.hub.bench.base import Benchmark, BenchOptions, Report
from omnihub.hub.bench.memory import per_item_bytes, raise_nofile, rss_kib
from omnihub.hub.bench.procs import (
    LOAD_CPU,
    SERVER_CPU,
    Server,
    can_pin,
    free_port,
    pinned,
    start_server,
)

SOCKETS = 10_000
QUICK_SOCKETS = 1_000
WARMUP_SOCKETS = 200
TARGET_KIB = 30.0
SETTLE_SECONDS = 2.0  # after the last welcome, before reading RSS
OPEN_TIMEOUT = 600.0
WEBCHAT_ID = "web"
# Throwaway secret for a throwaway store; it signs nothing outside this run.
WEBCHAT_SECRET = "bench-webchat-secret-0123456789"

WEBCHAT_CONFIG = """\
  - {{id: {channel_id}, type: webchat, secret: "{secret}"}}
limits: {{rate: {{webchat: {{per_second: 0}}}}}}
"""


class SocketLoadFailed(RuntimeError):
    """The load process could not open or close its sockets."""


@dataclass(frozen=True)
class Held:
    """What holding `count` sockets on one server cost it."""

    server: str
    requested: int
    opened: int
    failed: int
    open_seconds: float
    before_kib: int
    after_kib: int
    error: str = ""

    @property
    def kib_per_socket(self) -> float:
        return per_item_bytes(self.before_kib, self.after_kib, max(self.opened, 1)) / 1024

    def as_dict(self) -> dict[str, float | int | str]:
        return {"requested": self.requested, "opened": self.opened, "failed": self.failed,
                "open_seconds": self.open_seconds, "rss_before_kib": self.before_kib,
                "rss_after_kib": self.after_kib, "kib_per_socket": self.kib_per_socket,
                "error": self.error}


def start_hub(workdir: Path, cpu: int | None) -> Server:
    """`omnihub serve` on SQLite with a web chat channel and no per-visitor rate limit
    (10,000 visitors from one loopback address would otherwise be one client)."""
    server, _, _ = targets.start_hub_with(
        workdir, cpu, WEBCHAT_CONFIG.format(channel_id=WEBCHAT_ID, secret=WEBCHAT_SECRET))
    return server


def start_bare_ws(workdir: Path, cpu: int | None, loop: str) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "omnihub.hub.bench.bare_ws", "--port", str(port),
            "--loop", loop]
    return start_server("bare", argv, port=port, log=workdir / "bare.log", cpu=cpu,
                        cwd=workdir)


class LoadProcess:
    """One ws_load.py child: open, report, hold until told, close."""

    def __init__(self, url: str, count: int, cpu: int | None) -> None:
        argv = [sys.executable, "-m", "omnihub.hub.bench.ws_load", "--url", url,
                "--count", str(count), "--hello", "--concurrency", "100"]
        self.process = subprocess.Popen(pinned(argv, cpu), stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)

    def read(self, timeout: float) -> dict[str, object]:
        """The next JSON line of the child (it prints one when a phase is done)."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if line.strip():
                return dict(json.loads(line))
            if self.process.poll() is not None:
                break
        raise SocketLoadFailed(f"ws_load gave no answer (exit code {self.process.poll()})")

    def close(self) -> dict[str, object]:
        assert self.process.stdin is not None
        self.process.stdin.write("close\n")
        self.process.stdin.flush()
        answer = self.read(OPEN_TIMEOUT)
        self.process.wait(timeout=60)
        return answer

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


def hold(server: Server, path: str, count: int, cpu: int | None) -> Held:
    """Warm the server up with a few sockets, then read its RSS without and with `count`."""
    url = server.url(path).replace("http://", "ws://", 1)
    warm = LoadProcess(url, WARMUP_SOCKETS, cpu)
    try:
        warm.read(OPEN_TIMEOUT)
        warm.close()
    finally:
        warm.kill()
    time.sleep(SETTLE_SECONDS)
    before = rss_kib(server.pid)
    started = time.monotonic()
    load = LoadProcess(url, count, cpu)
    try:
        answer = load.read(OPEN_TIMEOUT)
        open_seconds = time.monotonic() - started
        time.sleep(SETTLE_SECONDS)
        after = rss_kib(server.pid)
        load.close()
    finally:
        load.kill()
    return Held(server.name, count, int(answer["open"]), int(answer["failed"]),  # type: ignore[call-overload]
                open_seconds, before, after, str(answer.get("error") or ""))


def run(options: BenchOptions) -> Report:
    """Both servers in a temporary directory, one after the other, never at once."""
    count = QUICK_SOCKETS if options.quick else SOCKETS
    # Both ends of every socket are a file descriptor; children inherit the limit.
    limit = raise_nofile(count + 2048)
    say = options.progress
    pinned_run = options.pin and can_pin()
    server_cpu = SERVER_CPU if pinned_run else None
    load_cpu = LOAD_CPU if pinned_run else None
    loop_name = targets.hub_event_loop()
    results: dict[str, Held] = {}
    with tempfile.TemporaryDirectory(prefix="omnihub-bench-") as tmp:
        workdir = Path(tmp)
        for name, start, path in (
            ("bare", lambda: start_bare_ws(workdir, server_cpu, loop_name), "/ws"),
            ("hub", lambda: start_hub(workdir, server_cpu), f"/chat/{WEBCHAT_ID}/ws"),
        ):
            server = start()
            try:
                server.wait_ready()
                say(f"  {name}: opening {count:,} sockets")
                results[name] = hold(server, path, count, load_cpu)
            finally:
                server.kill()
    return report(results, count, limit, loop_name, pinned_run)


def report(results: dict[str, Held], count: int, limit: int, loop_name: str,
           pinned_run: bool) -> Report:
    hub, bare = results["hub"], results["bare"]
    problems = [f"{held.server}: {held.failed} of {held.requested} sockets failed "
                f"({held.error})" for held in (hub, bare) if held.failed]
    met = hub.kib_per_socket <= TARGET_KIB
    rows = [
        f"sockets: {count:,} idle web chat visitors (hello + welcome, then silence), "
        f"one load process; RLIMIT_NOFILE {limit:,}; {loop_name}, "
        + ("pinned" if pinned_run else "not pinned"),
    ]
    for held in (hub, bare):
        rows.append(
            f"  {held.server}: {held.opened:,} open in {held.open_seconds:.1f}s; RSS "
            f"{held.before_kib / 1024:.1f} -> {held.after_kib / 1024:.1f} MiB = "
            f"{held.kib_per_socket:.1f} KiB per socket")
    rows.append(f"hub minus bare: {hub.kib_per_socket - bare.kib_per_socket:.1f} KiB per socket "
                "(omnihub's own state per visitor)")
    rows.append(f"target <= {TARGET_KIB:g} KiB per idle socket: " + ("met" if met else "NOT met"))
    figures = {"sockets": count, "hub": hub.as_dict(), "bare": bare.as_dict(),
               "target_kib": TARGET_KIB, "met": met, "nofile": limit}
    return Report(
        name="sockets", lines=rows, figures=figures,
        final_line=(f"RSS per idle web chat socket: hub {hub.kib_per_socket:.1f} KiB, "
                    f"bare {bare.kib_per_socket:.1f} KiB"),
        ok=not problems, problems=problems)


SOCKETS_BENCH = Benchmark(
    name="sockets",
    summary="RSS per idle web chat socket with 10,000 open, against bare aiohttp",
    run=run,
)
