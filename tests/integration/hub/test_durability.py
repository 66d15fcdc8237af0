"""Durable before ack: SIGKILL the serving process mid-stream; nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import orjson
import pytest
import sqlalchemy as sa

from omnihub.hub import signing
from omnihub.store import tables
from omnihub.store.db import Database

from .conftest import SECRET

MESSAGES = 1200
SENDERS = 16
KILLS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HubProcess:
    """`python -m omnihub serve` in a child process, killed without warning on demand."""

    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.config, self.port, self.log = config, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "omnihub", "serve", "--config", str(self.config)],
                                         stdout=out, stderr=out)
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/readyz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if self.proc.poll() is not None:
                    raise RuntimeError(f"hub exited: {self.log.read_text()[-2000:]}")
                await asyncio.sleep(0.05)
        raise RuntimeError("hub did not become ready")

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


@pytest.mark.slow
async def test_sigkill_mid_stream_loses_and_doubles_nothing(tmp_path: Path) -> None:
    port = free_port()
    db_url = f"sqlite:///{tmp_path / 'hub.db'}"
    config = tmp_path / "hub.yaml"
    config.write_text(json.dumps({
        "server": {"host": "127.0.0.1", "port": port},
        "data_dir": str(tmp_path / "data"),
        "store": {"url": db_url},
        "channels": [{"id": "shop", "type": "api", "secret": SECRET}],
    }))
    hub = HubProcess(config, port, tmp_path / "hub.log")
    await hub.start()
    url = f"http://127.0.0.1:{port}/webhooks/shop"
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(MESSAGES):
        queue.put_nowait(i)
    acked: set[str] = set()
    attempts = 0

    async def sender(http: aiohttp.ClientSession) -> None:
        nonlocal attempts
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            body = orjson.dumps({"external_id": f"m-{i}", "customer": {"external_id": f"c-{i % 50}"},
                                 "text": f"message {i}"})
            while True:  # retry as a provider does until the hub answers 2xx
                attempts += 1
                try:
                    async with http.post(url, data=body, headers={
                            signing.HEADER: signing.sign(SECRET, body),
                            "Content-Type": "application/json"}) as resp:
                        if resp.status == 200:
                            acked.add(f"m-{i}")
                            break
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass
                await asyncio.sleep(0.05)

    async def killer() -> None:
        for _ in range(KILLS):
            target = len(acked) + MESSAGES // (KILLS + 2)
            while len(acked) < target and len(acked) < MESSAGES:
                await asyncio.sleep(0.01)
            hub.kill()
            await hub.start()

    try:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            await asyncio.gather(killer(), *(sender(http) for _ in range(SENDERS)))
    finally:
        hub.stop()

    assert len(acked) == MESSAGES
    assert attempts > MESSAGES, "the kills should have forced some retries"
    db = Database(db_url)
    try:
        async with db.read() as conn:
            rows = (await conn.execute(
                sa.select(tables.messages.c.external_id, sa.func.count())
                .group_by(tables.messages.c.external_id))).all()
            received_events = (await conn.execute(
                sa.select(sa.func.count()).select_from(tables.outbox)
                .where(tables.outbox.c.type == "message.received"))).scalar_one()
    finally:
        await db.dispose()
    stored = {external_id: n for external_id, n in rows}
    assert set(stored) == acked  # every acknowledged message is there
    assert set(stored.values()) == {1}  # and stored once
    assert received_events == MESSAGES  # a retried delivery emits no second event
