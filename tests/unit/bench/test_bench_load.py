from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from omnihub.hub.bench.load import LoadFailed, load_command, parse_load_line, resolve_generator
from omnihub.hub.bench.pyload import read_response

WRK_OUTPUT = """\
Running 10s test @ http://127.0.0.1:41000/webhooks/bench
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.10ms    1.02ms  30.58ms   88.12%
  Latency Distribution
     50%    2.77ms
     99%    8.00ms
  191660 requests in 10.00s, 31.07MB read
Requests/sec:  19166.02
omnihub-bench requests=191660 duration_us=10000000 p50_us=2774 p90_us=5026 p99_us=7995 \
max_us=30577 status_errors=3 socket_errors=1 sent=191724 wraps=0
"""


def test_parse_wrk_done_line() -> None:
    result = parse_load_line(WRK_OUTPUT, "wrk")
    assert result.requests == 191_660
    assert result.rps == pytest.approx(19_166.0)
    assert result.p50_ms == pytest.approx(2.774)
    assert result.p99_ms == pytest.approx(7.995)
    assert result.non_2xx == 3
    assert result.ok_answers == 191_657
    assert result.socket_errors == 1
    assert result.as_dict()["rps"] == pytest.approx(19_166.0)


def test_missing_or_broken_figures_line_is_an_error() -> None:
    with pytest.raises(LoadFailed, match="no omnihub-bench line"):
        parse_load_line("Requests/sec: 5\n", "wrk")
    with pytest.raises(LoadFailed, match="unreadable"):
        parse_load_line("omnihub-bench requests=x\n", "wrk")


def test_wrk_command_replays_the_file_with_one_thread() -> None:
    argv = load_command(
        "wrk", url="http://127.0.0.1:1/webhooks/bench", requests_file=Path("r.req"),
        script=Path("replay.lua"), duration=2.5, connections=64,
    )
    assert argv[:4] == ["wrk", "-t1", "-c64", "-d3s"]
    assert argv[-3:] == ["--", "r.req", "1"]


def test_python_generator_can_be_forced() -> None:
    assert resolve_generator("python") == "python"


async def _status_of(raw: bytes) -> tuple[int, bytes]:
    reader = asyncio.StreamReader()
    reader.feed_data(raw)
    reader.feed_eof()
    status = await read_response(reader)
    return status, await reader.read()


async def test_python_generator_reads_sized_and_chunked_answers() -> None:
    sized = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\":true}NEXT"
    assert await _status_of(sized) == (200, b"NEXT")
    chunked = (
        b"HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\nNEXT"
    )
    assert await _status_of(chunked) == (401, b"NEXT")
