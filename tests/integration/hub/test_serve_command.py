"""`omnihub serve` as a user runs it: embedded defaults, bad configs, an unreachable store."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import orjson

from omnihub.hub import signing

from .test_durability import free_port


def run_serve(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "omnihub", "serve", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "OMNIHUB_API_SECRET": ""})


def test_unreachable_store_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "hub.yaml").write_text('store: {url: "postgresql://postgres@127.0.0.1:1/nope"}\n')
    result = run_serve(tmp_path, "--config", "hub.yaml")
    assert result.returncode != 0
    assert "unreachable" in result.stderr and "Traceback" not in result.stderr


def test_yaml_typo_names_file_line_and_key(tmp_path: Path) -> None:
    (tmp_path / "hub.yaml").write_text("server:\n  host: 127.0.0.1\n  prot: 8080\n")
    result = run_serve(tmp_path, "--config", "hub.yaml")
    assert result.returncode == 1
    assert "hub.yaml:3:3: server.prot" in result.stderr
    assert "Traceback" not in result.stderr


async def test_embedded_defaults_start_from_an_empty_directory(tmp_path: Path) -> None:
    """What `make run` does on a fresh machine: no config, no data directory."""
    port = free_port()
    env = {**os.environ}
    env.pop("OMNIHUB_API_SECRET", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "omnihub", "serve", "--port", str(port), cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError("hub did not become ready")
            secret = (tmp_path / "data" / "api-channel.secret").read_text().strip()
            body = orjson.dumps({"external_id": "first", "customer": {"external_id": "u1"},
                                 "text": "hello"})
            async with http.post(f"http://127.0.0.1:{port}/webhooks/api", data=body,
                                 headers={signing.HEADER: signing.sign(secret, body)}) as resp:
                assert resp.status == 200, await resp.text()
            async with http.get(f"http://127.0.0.1:{port}/chat/demo") as resp:
                assert resp.status == 200 and "widget.js" in await resp.text()
    finally:
        proc.terminate()
        _, stderr = await proc.communicate()
    assert (tmp_path / "data" / "omnihub.db").exists()
    assert (tmp_path / "data" / "pii.key").exists()
    assert oct((tmp_path / "data" / "pii.key").stat().st_mode & 0o777) == "0o600"
    log = stderr.decode()
    assert "generated a new contact-data key" in log
    assert "generated a new channel signing secret" in log
    assert (tmp_path / "data" / "webchat.secret").exists()
