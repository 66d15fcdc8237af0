"""Closed-loop load: wrk (preferred) or a Python fallback, replaying one request file.

Both generators print the same machine-readable line, parsed by `parse_load_line`:
`omnihub-bench requests=... duration_us=... p50_us=... p99_us=... status_errors=...`.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from omnihub.hub.bench.procs import pinned

MARKER = "omnihub-bench"

# Replays the request file (stride per thread so threads never send the same request)
# and prints the figures on one line in done(). Responses are not handed to Lua, which
# keeps wrk cheap; wrk counts statuses >= 400 as status errors.
WRK_SCRIPT = r"""
local threads = {}
local requests = {}
local count = 0
local index = 0
local stride = 1
sent = 0
wraps = 0

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function init(args)
  stride = tonumber(args[2] or "1")
  local f = assert(io.open(args[1], "rb"))
  while true do
    local line = f:read("*l")
    if not line then break end
    count = count + 1
    requests[count] = f:read(tonumber(line))
  end
  f:close()
  index = thread_id or 0
end

function request()
  index = index + stride
  if index > count then
    index = index - count
    wraps = wraps + 1
  end
  sent = sent + 1
  return requests[index]
end

function done(summary, latency, requests)
  local total_sent, total_wraps = 0, 0
  for _, t in ipairs(threads) do
    total_sent = total_sent + t:get("sent")
    total_wraps = total_wraps + t:get("wraps")
  end
  local e = summary.errors
  io.write(string.format(
    "omnihub-bench requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d "
    .. "status_errors=%d socket_errors=%d sent=%d wraps=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.status, e.connect + e.read + e.write + e.timeout,
    total_sent, total_wraps))
end
"""

WRK_MISSING = (
    "wrk is not installed; falling back to the slower Python load generator, which "
    "caps the bare baseline and makes the ratio look better than it is. "
    "Install wrk (Debian/Ubuntu: `apt-get install wrk`, macOS: `brew install wrk`)."
)


class LoadFailed(RuntimeError):
    """The load generator crashed or printed no figures."""


@dataclass(frozen=True)
class LoadResult:
    """One closed-loop run against one server."""

    generator: str
    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int  # statuses >= 400, as wrk counts them
    socket_errors: int
    sent: int
    wraps: int  # times the request file was replayed from the start

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def ok_answers(self) -> int:
        return self.requests - self.non_2xx

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rps": self.rps}


def parse_load_line(output: str, generator: str) -> LoadResult:
    """Find and parse the generator's `omnihub-bench key=value ...` line."""
    for line in output.splitlines():
        if line.startswith(MARKER + " "):
            values = dict(item.split("=", 1) for item in line.split()[1:])
            try:
                return LoadResult(
                    generator=generator,
                    requests=int(values["requests"]),
                    duration_s=int(values["duration_us"]) / 1e6,
                    p50_ms=float(values["p50_us"]) / 1e3,
                    p90_ms=float(values["p90_us"]) / 1e3,
                    p99_ms=float(values["p99_us"]) / 1e3,
                    max_ms=float(values["max_us"]) / 1e3,
                    non_2xx=int(values["status_errors"]),
                    socket_errors=int(values["socket_errors"]),
                    sent=int(values["sent"]),
                    wraps=int(values["wraps"]),
                )
            except (KeyError, ValueError) as exc:
                raise LoadFailed(f"unreadable {MARKER} line {line!r}: {exc}") from None
    raise LoadFailed(f"the load generator printed no {MARKER} line:\n{output[-2000:]}")


def resolve_generator(choice: str) -> str:
    """"wrk" when wrk is installed (or demanded), otherwise "python"."""
    if choice == "python":
        return "python"
    if shutil.which("wrk"):
        return "wrk"
    if choice == "wrk":
        raise LoadFailed("--generator wrk was asked for but wrk is not installed")
    return "python"


def load_command(
    generator: str, *, url: str, requests_file: Path, script: Path,
    duration: float, connections: int,
) -> list[str]:
    """The argv of one closed-loop run."""
    if generator == "wrk":
        seconds = max(1, math.ceil(duration))
        return [
            "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s",
            "--latency", "-s", str(script), url, "--", str(requests_file), "1",
        ]
    return [
        sys.executable, "-m", "omnihub.hub.bench.pyload", "--url", url,
        "--file", str(requests_file), "--duration", str(duration),
        "--connections", str(connections),
    ]


def run_load(
    generator: str, *, url: str, requests_file: Path, workdir: Path,
    duration: float, connections: int, cpu: int | None,
    tick: Callable[[], None] | None = None,
) -> LoadResult:
    """Run the generator to completion, pinned to `cpu`, and parse its figures.

    `tick` is called every 20 ms while the generator runs, so the caller can notice
    when load really starts (wrk first spends a while reading the request file).
    """
    script = workdir / "replay.lua"
    if generator == "wrk" and not script.exists():
        script.write_text(WRK_SCRIPT)
    argv = load_command(
        generator, url=url, requests_file=requests_file, script=script,
        duration=duration, connections=connections,
    )
    output, errors = workdir / "load.out", workdir / "load.err"
    with output.open("w") as out, errors.open("w") as err:
        process = subprocess.Popen(pinned(argv, cpu), stdout=out, stderr=err, text=True)
        deadline = time.monotonic() + duration + 120
        while process.poll() is None:
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise LoadFailed(f"{argv[0]} did not finish within {duration + 120:.0f}s")
            if tick is not None:
                tick()
            time.sleep(0.02)
    if process.returncode != 0:
        raise LoadFailed(
            f"{argv[0]} exited with {process.returncode}:\n{errors.read_text()[-2000:]}"
        )
    return parse_load_line(output.read_text(), generator)
