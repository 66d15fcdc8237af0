"""Slack contract helpers: the local Web API stand-in, fixture payloads, a signing hub client."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient
from stand_in import StandIn

from omnihub.hub.runtime import HUB, Hub

FIXTURES = Path(__file__).parent / "fixtures"
BOT_TOKEN = "xoxb-1234567890-0987654321-FakeTokenForTests"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_USER_ID = "U0SHOPBOT1"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"pixels" * 50
PDF = b"%PDF-1.7\ndelivery note"
SLACK_FILES = "https://files.slack.com"


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def fixture_names() -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob("*.json"))


def sign(body: bytes, *, secret: str = SIGNING_SECRET,
         timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack sends: "v0=" + hex HMAC-SHA256 of b"v0:<ts>:<body>", computed here from
    Slack's documentation (https://api.slack.com/authentication/verifying-requests-from-slack),
    not with the SDK under test."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest.hexdigest()}",
            "Content-Type": "application/json"}


@dataclass
class ApiCall:
    method: str
    params: dict[str, Any]
    token: str | None


@dataclass
class FakeSlackApi(StandIn):
    """Speaks the Web API methods the connector uses (https://api.slack.com/methods) on a
    local port, plus the upload URL of files.upload v2 and private file downloads."""

    calls: list[ApiCall] = field(default_factory=list)
    failures: dict[str, list[tuple[int, str, int | None]]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # /files-pri/... path -> content
    file_failures: list[int] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)  # file id -> uploaded bytes
    _seq: int = 0

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def fail(self, method: str, status: int, error: str, retry_after: int | None = None) -> None:
        self.failures.setdefault(method, []).append((status, error, retry_after))

    def called(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/{method}", self.method)
        app.router.add_post("/upload/v1/{file_id}", self.upload)
        app.router.add_get("/files-pri/{path:.+}", self.download)
        return app

    def _next_ts(self) -> str:
        self._seq += 1
        return f"1767270000.{self._seq:06d}"

    async def method(self, request: web.Request) -> web.Response:
        name = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        else:
            params.update({k: str(v) for k, v in (await request.post()).items()})
        auth = request.headers.get("Authorization", "")
        self.calls.append(ApiCall(name, params, auth.removeprefix("Bearer ") or None))
        if auth != f"Bearer {BOT_TOKEN}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if self.failures.get(name):
            status, error, retry_after = self.failures[name].pop(0)
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            return web.json_response({"ok": False, "error": error}, status=status,
                                     headers=headers)
        handler = getattr(self, "_" + name.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"}, status=404)
        return web.json_response({"ok": True, **handler(params)})

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        channel = params["channel"]
        if channel.startswith("U"):  # posting to a user id lands in the app's DM with them
            channel = "D0NEWDM001"
        ts = self._next_ts()
        return {"channel": channel, "ts": ts,
                "message": {"type": "message", "text": params.get("text"), "ts": ts,
                            "bot_id": "B0SHOPBOT1", "user": BOT_USER_ID}}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"channel": params["channel"], "ts": params["ts"], "text": params.get("text")}

    def _chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"channel": params["channel"], "ts": params["ts"]}

    def _files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        file_id = f"F0UP{len(self.uploads) + len(self.called('files.getUploadURLExternal')):06d}"
        return {"upload_url": f"{self.url}/upload/v1/{file_id}", "file_id": file_id}

    def _files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        files = json.loads(params["files"])
        return {"files": [{"id": f["id"], "title": f.get("title")} for f in files]}

    async def upload(self, request: web.Request) -> web.Response:
        self.uploads[request.match_info["file_id"]] = await request.read()
        return web.Response(text=f"OK - {len(self.uploads)}")

    async def download(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {BOT_TOKEN}":
            return web.Response(status=403)
        if self.file_failures:
            return web.Response(status=self.file_failures.pop(0))
        content = self.files.get("/files-pri/" + request.match_info["path"])
        return web.Response(status=404) if content is None else web.Response(body=content)


class SlackHub:
    """A running hub with one Slack channel `sl`, and helpers to post signed events."""

    def __init__(self, client: TestClient, app: web.Application, files_origin: str) -> None:
        self.http = client
        self.app = app
        self.files_origin = files_origin

    @property
    def hub(self) -> Hub:
        return self.app[HUB]

    def body(self, payload: dict[str, Any]) -> bytes:
        """The wire bytes, with Slack's file host pointed at the stand-in."""
        return json.dumps(payload).replace(SLACK_FILES, self.files_origin).encode()

    async def post(self, payload: dict[str, Any] | bytes, *, headers: dict[str, str] | None = None,
                   retry: int | None = None, **sign_kw: Any) -> aiohttp.ClientResponse:
        raw = payload if isinstance(payload, bytes) else self.body(payload)
        sent = sign(raw, **sign_kw) if headers is None else headers
        if retry is not None:
            sent = {**sent, "X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        return await self.http.post("/webhooks/sl", data=raw, headers=sent)
