"""Telegram contract helpers: the local Bot API stand-in, fixture payloads, a hub client."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient
from stand_in import StandIn

from omnihub.connectors.telegram.connector import SECRET_HEADER
from omnihub.hub.runtime import HUB, Hub

FIXTURES = Path(__file__).parent / "fixtures"
TOKEN = "7012345678:AAHfakeTokenForTests_0123456789abc"
SECRET = "tg-webhook-secret-0123456789"

# Bytes the stand-in serves for a file, by the type it should sniff as.
MAGIC = {
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "image/webp": b"RIFF\x24\x00\x00\x00WEBPVP8 ",
    "audio/ogg": b"OggS\x00\x02\x00\x00",
    "audio/mpeg": b"ID3\x04\x00\x00",
    "video/mp4": b"\x00\x00\x00\x18ftypmp42",
    "application/pdf": b"%PDF-1.7\n",
}


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def fixture_names() -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob("*.json"))


def file_bytes(file_id: str, mime: str) -> bytes:
    return MAGIC[mime] + file_id.encode() * 8


@dataclass
class ApiCall:
    method: str
    params: dict[str, Any]
    uploads: dict[str, tuple[str, str, bytes]]  # field -> (file name, content type, bytes)


@dataclass
class FakeBotApi(StandIn):
    """Speaks the Bot API (https://core.telegram.org/bots/api) on a local port:
    `POST /bot<token>/<method>` with JSON or multipart, `GET /file/bot<token>/<path>`."""

    token: str = TOKEN
    calls: list[ApiCall] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)  # file_id -> content
    failures: dict[str, list[tuple[int, str, int | None]]] = field(default_factory=dict)
    file_failures: list[int] = field(default_factory=list)
    next_message_id: int = 500

    def fail(self, method: str, status: int, description: str,
             retry_after: int | None = None) -> None:
        """The next call of `method` gets this error answer."""
        self.failures.setdefault(method, []).append((status, description, retry_after))

    def called(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(f"/bot{self.token}/{{method}}", self.method)
        app.router.add_get(f"/file/bot{self.token}/{{path:.+}}", self.file)
        return app

    async def method(self, request: web.Request) -> web.Response:
        name = request.match_info["method"]
        params: dict[str, Any] = {}
        uploads: dict[str, tuple[str, str, bytes]] = {}
        if request.content_type == "application/json":
            params = await request.json()
        else:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    uploads[key] = (value.filename, value.content_type, value.file.read())
                else:
                    params[key] = _maybe_json(str(value))
        self.calls.append(ApiCall(name, params, uploads))
        if self.failures.get(name):
            status, description, retry_after = self.failures[name].pop(0)
            body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
            if retry_after is not None:
                body["parameters"] = {"retry_after": retry_after}
            return web.json_response(body, status=status)
        handler = getattr(self, f"_{name}", None)
        if handler is None:
            return web.json_response({"ok": False, "error_code": 404,
                                      "description": "Not Found"}, status=404)
        return web.json_response({"ok": True, "result": handler(params)})

    async def file(self, request: web.Request) -> web.Response:
        if self.file_failures:
            return web.Response(status=self.file_failures.pop(0))
        file_id = request.match_info["path"].removeprefix("files/")
        if file_id not in self.files:
            return web.Response(status=404)
        return web.Response(body=self.files[file_id])

    def _getFile(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        file_id = params["file_id"]
        return {"file_id": file_id, "file_unique_id": f"u-{file_id}",
                "file_size": len(self.files.get(file_id, b"")), "file_path": f"files/{file_id}"}

    def _message(self, params: dict[str, Any]) -> dict[str, Any]:
        self.next_message_id += 1
        chat_id = int(params["chat_id"])
        return {"message_id": self.next_message_id, "date": 1767270000,
                "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
                "from": {"id": 7012345678, "is_bot": True, "first_name": "Shop Help"}}

    _sendMessage = _sendPhoto = _sendDocument = _sendLocation = _sendContact = _message  # noqa: N815
    _editMessageText = _editMessageCaption = _message  # noqa: N815

    def _deleteMessage(self, params: dict[str, Any]) -> bool:  # noqa: N802
        return True

    _setWebhook = _answerCallbackQuery = _deleteMessage  # noqa: N815


def _maybe_json(value: str) -> Any:
    """Multipart fields carry JSON-serialized objects (reply_markup) as strings."""
    if value[:1] in "{[":
        return json.loads(value)
    return value


class TelegramHub:
    """A running hub with one Telegram channel `tg`, and helpers to post updates to it."""

    def __init__(self, client: TestClient, app: web.Application) -> None:
        self.http = client
        self.app = app

    @property
    def hub(self) -> Hub:
        return self.app[HUB]

    async def post(self, body: dict[str, Any] | bytes, *, secret: str | None = SECRET,
                   ) -> aiohttp.ClientResponse:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        return await self.http.post("/webhooks/tg", data=raw, headers=headers)
