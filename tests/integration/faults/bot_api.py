"""A Telegram Bot API stand-in whose answers a fault test scripts: files to download, and
sendMessage answers that fail as the real API does (500, 429 with `retry_after`) or hang.

It speaks the real wire format (https://core.telegram.org/bots/api#making-requests):
`POST /bot<token>/<method>` answering `{"ok": ..., "result" | "error_code",
"description", "parameters": {"retry_after"}}`, and `GET /file/bot<token>/<path>`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

TOKEN = "7012345678:AAHfakeTokenForFaultTests_0123456"
SECRET = "tg-fault-secret-0123456789"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"


@dataclass
class Answer:
    """One scripted answer: an error status (with `retry_after` for a 429), or a hang."""

    status: int = 200
    retry_after: int | None = None
    hang_seconds: float = 0.0


@dataclass
class BotApiStandIn:
    server: TestServer | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    script: list[Answer] = field(default_factory=list)  # the next sendMessage answers
    sends: list[tuple[float, int, dict[str, Any]]] = field(default_factory=list)  # (t, status, params)
    next_message_id: int = 700

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    def delivered(self) -> list[dict[str, Any]]:
        return [params for _t, status, params in self.sends if status == 200]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(f"/bot{TOKEN}/{{method}}", self.method)
        app.router.add_get(f"/file/bot{TOKEN}/files/{{file_id}}", self.file)
        return app

    async def method(self, request: web.Request) -> web.Response:
        name = request.match_info["method"]
        params = await request.json()
        if name == "getFile":
            file_id = params["file_id"]
            return _ok({"file_id": file_id, "file_unique_id": f"u-{file_id}",
                        "file_size": len(self.files.get(file_id, b"")),
                        "file_path": f"files/{file_id}"})
        if name != "sendMessage":
            return _ok(True)
        answer = self.script.pop(0) if self.script else Answer()
        if answer.hang_seconds:
            self.sends.append((time.monotonic(), 0, params))
            await asyncio.sleep(answer.hang_seconds)  # the hub's timeout fires first
            return _ok(True)
        self.sends.append((time.monotonic(), answer.status, params))
        if answer.status == 429:
            return web.json_response(
                {"ok": False, "error_code": 429,
                 "description": f"Too Many Requests: retry after {answer.retry_after}",
                 "parameters": {"retry_after": answer.retry_after}}, status=429)
        if answer.status != 200:
            return web.json_response({"ok": False, "error_code": answer.status,
                                      "description": "Internal Server Error"},
                                     status=answer.status)
        self.next_message_id += 1
        return _ok({"message_id": self.next_message_id, "date": int(time.time()),
                    "chat": {"id": int(params["chat_id"]), "type": "private"},
                    "text": params.get("text")})

    async def file(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["file_id"])
        return web.Response(body=data) if data is not None else web.Response(status=404)


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def photo_update(update_id: int, file_id: str, size: int) -> dict[str, Any]:
    """A customer's photo in a private chat, as Telegram posts it to the webhook."""
    user = {"id": 5218043771, "is_bot": False, "first_name": "Lena"}
    return {"update_id": update_id, "message": {
        "message_id": update_id % 100_000, "from": user,
        "chat": {**user, "type": "private"}, "date": 1767261600,
        "photo": [{"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_size": size,
                   "width": 1280, "height": 960}],
        "caption": "The box arrived like this"}}


def text_update(update_id: int, text: str) -> dict[str, Any]:
    user = {"id": 5218043771, "is_bot": False, "first_name": "Lena"}
    return {"update_id": update_id, "message": {
        "message_id": update_id % 100_000, "from": user,
        "chat": {**user, "type": "private"}, "date": 1767261600, "text": text}}


def telegram_channel(api: BotApiStandIn, **extra: Any) -> dict[str, Any]:
    return {"id": "tg", "type": "telegram", "token": TOKEN, "secret_token": SECRET,
            "api_base_url": api.url, "max_per_chat_per_second": 100, **extra}


def webhook_headers() -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
