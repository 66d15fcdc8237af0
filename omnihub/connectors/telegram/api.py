"""A small Bot API client on the hub's aiohttp session.

Calls go to `<api_base_url>/bot<token>/<method>` and files come from
`<api_base_url>/file/bot<token>/<path>`, as with the cloud API and a self-hosted
telegram-bot-api server. We do not send through python-telegram-bot: its `RetryAfter`
warns on construction (PTB 22.2 deprecation) and it brings its own httpx pool, while we
need the raw `retry_after` to hand to the durable retry instead of sleeping on it.
The token is part of every URL, so no URL or raw client error text leaves this module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

__all__ = ["BotApi", "BotApiError", "BotApiUnreachable", "Upload"]

_CHUNK = 64 * 1024


class BotApiError(Exception):
    """The Bot API answered `ok: false` (https://core.telegram.org/bots/api#making-requests)."""

    def __init__(self, method: str, status: int, description: str,
                 retry_after: float | None = None) -> None:
        super().__init__(f"{method}: {status} {description}")
        self.method = method
        self.status = status
        self.description = description
        self.retry_after = retry_after

    @property
    def temporary(self) -> bool:
        return self.status == 429 or self.status >= 500


class BotApiUnreachable(Exception):
    """No answer from the Bot API (network error or timeout)."""


@dataclass(frozen=True, slots=True)
class Upload:
    """A file to send as multipart (a blob from the media store)."""

    path: Path
    name: str
    mime: str


class BotApi:
    def __init__(self, http: aiohttp.ClientSession, base_url: str, token: str, *,
                 timeout: float) -> None:
        self._http = http
        self._token = token
        self._methods = f"{base_url}/bot{token}/"
        self._files = f"{base_url}/file/bot{token}/"
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def call(self, method: str, params: Mapping[str, Any] | None = None, *,
                   uploads: Mapping[str, Upload] | None = None) -> Any:
        """Call one method; return its `result` or raise BotApiError/BotApiUnreachable."""
        params = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            if uploads:
                form, handles = self._form(params, uploads)
                try:
                    async with self._http.post(self._methods + method, data=form,
                                               timeout=self._timeout) as resp:
                        return await self._result(method, resp)
                finally:
                    for handle in handles:
                        handle.close()
            async with self._http.post(self._methods + method, data=orjson.dumps(params),
                                       headers={"Content-Type": "application/json"},
                                       timeout=self._timeout) as resp:
                return await self._result(method, resp)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise BotApiUnreachable(f"{method}: {self._scrub(exc)}") from None

    async def download(self, file_path: str) -> AsyncIterator[bytes]:
        """Stream a file that getFile named; BotApiError on a non-200 answer."""
        try:
            async with self._http.get(self._files + file_path, timeout=self._timeout) as resp:
                if resp.status != 200:
                    raise BotApiError("download", resp.status, resp.reason or "")
                async for chunk in resp.content.iter_chunked(_CHUNK):
                    yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise BotApiUnreachable(f"download: {self._scrub(exc)}") from None

    def _form(self, params: Mapping[str, Any],
              uploads: Mapping[str, Upload]) -> tuple[aiohttp.FormData, list[Any]]:
        form = aiohttp.FormData()
        for key, value in params.items():
            form.add_field(key, value if isinstance(value, str) else orjson.dumps(value).decode())
        handles = []
        for field, upload in uploads.items():
            handle = open(upload.path, "rb")  # noqa: SIM115 - closed after the request
            handles.append(handle)
            form.add_field(field, handle, filename=upload.name, content_type=upload.mime)
        return form, handles

    async def _result(self, method: str, resp: aiohttp.ClientResponse) -> Any:
        try:
            body = orjson.loads(await resp.read())
        except orjson.JSONDecodeError:
            raise BotApiError(method, resp.status, "answer is not JSON") from None
        if not isinstance(body, dict):
            raise BotApiError(method, resp.status, "answer is not a JSON object")
        if body.get("ok") is True:
            return body.get("result")
        parameters = body.get("parameters") or {}
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        if retry_after is None and resp.headers.get("Retry-After", "").isdigit():
            retry_after = resp.headers["Retry-After"]
        status = body.get("error_code") if isinstance(body.get("error_code"), int) else resp.status
        raise BotApiError(method, status, str(body.get("description") or resp.reason),
                          float(retry_after) if retry_after is not None else None)

    def _scrub(self, exc: BaseException) -> str:
        return f"{type(exc).__name__}: {exc}".replace(self._token, "<token>")
