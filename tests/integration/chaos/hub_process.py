"""`omnihub serve` as a child process that the test kills without warning and restarts.

Python's imports are most of a cold start (about 1.2 s of CPU, 3-9 s on a loaded 2-core
machine), and a kill test pays one start per kill. So a small fork server imports omnihub
once, and each start forks a child of it that runs `omnihub serve --config …` exactly as
the command does. A restart then costs what the hub's own start costs (migrations check,
recovery of the outbox), which is what the test is about. SIGKILL goes to the child alone.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

READY_TIMEOUT_SECONDS = 60.0  # a loaded 2-core machine starts Python slowly
STOP_TIMEOUT_SECONDS = 30.0

# Imports omnihub, then forks a serving child per "go" line on stdin and prints its pid.
# Children are reaped by the kernel (SIGCHLD ignored), so a dead one leaves no zombie and
# `os.kill(pid, 0)` tells whether it still runs.
_FORK_SERVER = """\
import importlib, os, signal, sys, traceback
for name in ("omnihub.hub.cli", "omnihub.hub.commands.serve", "omnihub.hub.app",
             "omnihub.hub.runtime", "omnihub.hub.delivery", "omnihub.inbox.webhooks_out",
             "omnihub.bot.worker", "omnihub.profiles.wiring", "omnihub.hub.monitoring.wiring",
             "omnihub.hub.daily", "omnihub.inbox.snooze", "omnihub.inbox.webhook_registry",
             "omnihub.store.migrate", "aiosqlite", "asyncpg", "uvloop"):
    try:
        importlib.import_module(name)
    except ImportError:
        pass
try:  # building the app once imports the rest (connectors, their SDKs, the agent API)
    from omnihub.hub.app import create_app
    from omnihub.hub.settings import load_hub_settings
    create_app(load_hub_settings(sys.argv[1]))
except Exception:
    traceback.print_exc()
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
for line in sys.stdin:
    if line.strip() != "go":
        break
    pid = os.fork()
    if pid == 0:  # the hub: stdin from /dev/null, stdout and stderr into the log
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(2, 1)
        code = 1
        try:
            from omnihub.hub.cli import main
            main(["serve", "--config", sys.argv[1]], prog_name="omnihub")
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(code)
    print(pid, flush=True)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HubProcess:
    """One serving process at a time on the same config (and so the same store)."""

    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.config, self.port, self.log = config, port, log
        self.pid: int | None = None  # the serving child
        self._forks: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.start_seconds: list[float] = []  # fork to /readyz 200, per start

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _fork(self) -> int:
        if self._forks is None:
            with self.log.open("ab") as out:
                self._forks = subprocess.Popen(
                    [sys.executable, "-c", _FORK_SERVER, str(self.config)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=out)
        assert self._forks.stdin is not None and self._forks.stdout is not None
        self._forks.stdin.write(b"go\n")
        self._forks.stdin.flush()
        line = await asyncio.to_thread(self._forks.stdout.readline)  # imports, the 1st time
        if not line:
            raise RuntimeError(f"the fork server exited: {self.tail()}")
        return int(line)

    async def start(self) -> None:
        """Fork a serving hub and wait until /readyz answers 200."""
        self.pid = pid = await self._fork()
        started = time.monotonic()
        self.starts += 1
        deadline = started + READY_TIMEOUT_SECONDS
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                try:
                    async with http.get(f"{self.url}/readyz") as resp:
                        if resp.status == 200:
                            self.start_seconds.append(time.monotonic() - started)
                            return
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass
                if not alive(pid):
                    raise RuntimeError(f"hub exited: {self.tail()}")
                await asyncio.sleep(0.02)
        raise RuntimeError(f"hub not ready after {READY_TIMEOUT_SECONDS:.0f}s: {self.tail()}")

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, whatever was in flight is cut off."""
        assert self.pid is not None
        os.kill(self.pid, signal.SIGKILL)
        await self._gone(self.pid)

    async def stop(self) -> None:
        """A graceful stop (SIGTERM) of the serving hub, then of the fork server."""
        if self.pid is not None and alive(self.pid):
            os.kill(self.pid, signal.SIGTERM)
            try:
                await self._gone(self.pid, STOP_TIMEOUT_SECONDS)
            except TimeoutError:
                os.kill(self.pid, signal.SIGKILL)
                await self._gone(self.pid)
        forks, self._forks = self._forks, None
        if forks is not None:
            assert forks.stdin is not None
            forks.stdin.close()  # its loop ends
            try:
                forks.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                forks.kill()
                forks.wait()
            assert forks.stdout is not None
            forks.stdout.close()

    @staticmethod
    async def _gone(pid: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while alive(pid):
            if time.monotonic() > deadline:
                raise TimeoutError(f"process {pid} still runs after {timeout:.0f}s")
            await asyncio.sleep(0.01)

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""
