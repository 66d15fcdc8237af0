"""Servers under test as child processes: pinned, probed for readiness, charged CPU time.

CPU time comes from /proc/<pid>/stat (utime + stime, all threads of the process), read
before and after a measured run, so it is the server's own cost per request and not
the load generator's.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
SERVER_CPU = 0
LOAD_CPU = 1


class ServerFailed(RuntimeError):
    """A server under test exited or never became ready."""


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def can_pin() -> bool:
    """Pinning needs taskset and two CPUs (server on one, load generator on the other)."""
    return shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


def pinned(argv: Sequence[str], cpu: int | None) -> list[str]:
    """`argv` prefixed with taskset for `cpu`, or unchanged when cpu is None."""
    if cpu is None:
        return list(argv)
    return ["taskset", "-c", str(cpu), *argv]


def parse_stat_cpu_seconds(stat_line: str) -> float:
    """utime + stime of a /proc/<pid>/stat line, in seconds.

    The command name (field 2) may hold spaces and parentheses, so fields are counted
    from the last ')'.
    """
    fields = stat_line[stat_line.rindex(")") + 2 :].split()
    # After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_seconds(pid: int) -> float:
    """CPU seconds the process has used so far, all its threads included."""
    return parse_stat_cpu_seconds(Path(f"/proc/{pid}/stat").read_text())


def parse_core_times(proc_stat: str) -> dict[str, tuple[int, int]]:
    """Per-core (busy, total) jiffies from /proc/stat, keyed "cpu0", "cpu1", ..."""
    cores = {}
    for line in proc_stat.splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            ticks = [int(v) for v in values[:8]]
            idle = ticks[3] + ticks[4]  # idle + iowait
            cores[name] = (sum(ticks) - idle, sum(ticks))
    return cores


def core_times() -> dict[str, tuple[int, int]]:
    """Per-core jiffies now, or nothing where /proc/stat does not exist."""
    try:
        return parse_core_times(Path("/proc/stat").read_text())
    except OSError:
        return {}


def core_busy(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> dict[str, float]:
    """Per-core busy fraction between two core_times() readings."""
    busy = {}
    for name, (busy_after, total_after) in after.items():
        busy_before, total_before = before.get(name, (0, 0))
        total = total_after - total_before
        busy[name] = (busy_after - busy_before) / total if total else 0.0
    return busy


@dataclass
class Server:
    """One server under test, listening on `port` of 127.0.0.1."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def wait_ready(self, path: str = "/readyz", timeout: float = 60.0) -> None:
        """Poll `path` until it answers 200; fail early if the process dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(
                    f"{self.name} exited with {self.process.returncode}; its last output:\n"
                    + (tail(self.log) or "(none)")
                )
            try:
                with urllib.request.urlopen(self.url(path), timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise ServerFailed(f"{self.name} not ready on {self.url(path)} after {timeout:.0f}s")

    def kill(self) -> None:
        """SIGKILL: whatever was acknowledged must already be on disk."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)


def start_server(
    name: str, argv: Sequence[str], *, port: int, log: Path, cpu: int | None, cwd: Path
) -> Server:
    """Start `argv` (pinned to `cpu` when given) with output going to `log`."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            pinned(argv, cpu), stdout=out, stderr=subprocess.STDOUT, cwd=cwd
        )
    return Server(name, process, port, log)


def tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log, to show why a server failed."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class CpuWindow:
    """Server CPU and per-core busy over the time the server is actually under load.

    Call `tick()` often while the load generator runs: the window opens at the last
    quiet reading before the server's CPU first climbs faster than `threshold` of a
    core, so the generator's start-up (reading its request file) is left out.
    """

    def __init__(self, server: Server, threshold: float = 0.4) -> None:
        self.server = server
        self.threshold = threshold
        self.opened = False
        self._last = self._reading()
        self._start = self._last

    def _reading(self) -> tuple[float, float, dict[str, tuple[int, int]]]:
        return time.monotonic(), self.server.cpu_seconds(), core_times()

    def tick(self) -> None:
        if self.opened:
            return
        now = self._reading()
        elapsed = now[0] - self._last[0]
        if elapsed > 0 and (now[1] - self._last[1]) / elapsed >= self.threshold:
            self.opened = True
            self._start = self._last
        else:
            self._last = now

    def close(self) -> tuple[float, dict[str, float]]:
        """Server CPU seconds used and per-core busy fractions since the window opened."""
        _, cpu_before, cores_before = self._start
        _, cpu_after, cores_after = self._reading()
        return cpu_after - cpu_before, core_busy(cores_before, cores_after)
