"""The web chat's HTTP surface: widget script, demo page, WebSocket, long-poll fallback,
uploads and media, all under /chat/.

Browsers can't put headers on a WebSocket, so the socket authenticates with its first
frame (`hello`); every plain HTTP call carries the visitor's session token as
`Authorization: Bearer …` (never in the URL, where it would land in access logs).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass
from functools import cache
from html import escape
from importlib.resources import files
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import BodyPartReader, WSMsgType, web
from aiohttp.web_urldispatcher import AbstractRoute, UrlDispatcher
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from omnihub.connectors.webchat.connector import WebchatConnector
from omnihub.connectors.webchat.outlets import PollOutlet, SocketOutlet
from omnihub.connectors.webchat.protocol import (
    MAX_FRAME_BYTES,
    Hello,
    ProtocolError,
    error_frame,
    parse_client_frame,
)
from omnihub.connectors.webchat.replay import owns_media
from omnihub.connectors.webchat.session import ChatSession, SessionRefused, visitor_from_token
from omnihub.connectors.webchat.settings import WebchatSettings
from omnihub.connectors.webchat.uploads import UploadRefused, prepare_upload
from omnihub.connectors.webchat.visitor import Visitor
from omnihub.hub.http import json_error, json_response
from omnihub.hub.runtime import HUB, Hub
from omnihub.normalizer.media import MediaNotFound, MediaTooLarge, MediaUnwritable
from omnihub.normalizer.schema import FilePart, ImagePart, Part
from omnihub.store.tokens import authenticate

__all__ = ["routes_for"]

log = logging.getLogger("omnihub.webchat")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
_FIELD_LIMIT = 4096
MAX_POLL_SECONDS = 30.0


@dataclass(frozen=True)
class SharedRouteDef(web.AbstractRouteDef):
    """A route every web chat channel declares (the widget script, the demo page): the
    first channel registers it, the others find it there."""

    method: str
    path: str
    handler: Any

    def register(self, router: UrlDispatcher) -> list[AbstractRoute]:
        if any(r.canonical == self.path for r in router.resources()):
            return []
        return [router.add_route(self.method, self.path, self.handler)]


def routes_for(settings: WebchatSettings) -> list[Any]:
    base = f"/chat/{settings.id}"
    chat = _ChannelRoutes(settings.id)
    routes: list[Any] = [
        SharedRouteDef("GET", "/chat/widget.js", widget_js),
        SharedRouteDef("GET", "/chat/demo", demo_page),
        web.get(f"{base}/ws", chat.websocket),
        web.post(f"{base}/send", chat.send),
        web.post(f"{base}/poll", chat.poll),
        web.post(f"{base}/upload", chat.upload),
        web.get(f"{base}/media/{{sha256}}", chat.media, allow_head=False),
        web.post(f"{base}/conversations/{{conversation_id}}/typing", chat.agent_typing),
    ]
    for path in ("send", "poll", "upload", "media/{sha256}"):
        routes.append(web.options(f"{base}/{path}", chat.preflight))
    return routes


# --- static: the widget and the demo shop --------------------------------------------


@cache
def _static(name: str) -> tuple[bytes, str]:
    body = files("omnihub.connectors.webchat").joinpath("static", name).read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


async def widget_js(request: web.Request) -> web.Response:
    """Plain JavaScript, cached by browsers and revalidated by ETag after five minutes."""
    body, etag = _static("widget.js")
    headers = {"ETag": etag, "Cache-Control": "public, max-age=300",
               "X-Content-Type-Options": "nosniff", "Access-Control-Allow-Origin": "*"}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="application/javascript", charset="utf-8",
                        headers=headers)


async def demo_page(request: web.Request) -> web.Response:
    """A pretend shop with the widget on it: `?channel=ID`, else the first web chat."""
    hub = request.app[HUB]
    chats = [cid for cid, c in hub.connectors.items() if isinstance(c, WebchatConnector)]
    channel = request.query.get("channel") or (chats[0] if chats else "")
    if channel not in chats:
        return json_error(404, "unknown_channel", f"no web chat channel {channel!r}")
    html = _static("demo.html")[0].decode().replace("{{channel}}", escape(channel, quote=True))
    return web.Response(text=html, content_type="text/html",
                        headers={"Cache-Control": "no-cache"})


# --- per channel ---------------------------------------------------------------------


class PollBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    last_id: str | None = Field(default=None, max_length=26, pattern=r"^[A-Za-z0-9_-]+$")
    wait: float = Field(default=25.0, ge=0, le=MAX_POLL_SECONDS)


class TypingBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    active: bool = True


def _own_origins(request: web.Request, hub: Hub) -> tuple[str, ...]:
    public = urlsplit(hub.settings.server.public_url)
    return (f"{request.scheme}://{request.host}".lower(),
            f"{public.scheme}://{public.netloc}".lower())


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class _ChannelRoutes:
    def __init__(self, channel_id: str) -> None:
        self.channel_id = channel_id

    def _connector(self, request: web.Request) -> tuple[Hub, WebchatConnector]:
        hub = request.app[HUB]
        connector = hub.connectors[self.channel_id]
        assert isinstance(connector, WebchatConnector)
        return hub, connector

    def _cors(self, request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is not None:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        return response

    def _origin_refused(self, request: web.Request) -> web.Response | None:
        hub, connector = self._connector(request)
        origin = request.headers.get("Origin")
        if connector.settings.origin_allowed(origin, _own_origins(request, hub)):
            return None
        return json_error(403, "origin_not_allowed",
                          f"pages on {origin} may not use channel {self.channel_id!r}; "
                          "add the origin to its allowed_origins")

    def _visitor(self, request: web.Request) -> Visitor:
        token = _bearer(request)
        if token is None:
            raise SessionRefused(4401, "unauthorized",
                                 "send Authorization: Bearer <the session token from welcome>")
        return visitor_from_token(self._connector(request)[1], token)

    async def preflight(self, request: web.Request) -> web.StreamResponse:
        if (refused := self._origin_refused(request)) is not None:
            return refused
        response = web.Response(status=204, headers={
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": "Authorization, Content-Type",
            "Access-Control-Max-Age": "600"})
        return self._cors(request, response)

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        if (refused := self._origin_refused(request)) is not None:
            return refused
        hub, connector = self._connector(request)
        ws = web.WebSocketResponse(heartbeat=25.0, max_msg_size=MAX_FRAME_BYTES)
        if not ws.can_prepare(request).ok:
            return json_error(400, "websocket_required", "this URL speaks WebSocket only")
        await ws.prepare(request)
        outlet = SocketOutlet(ws)
        session = ChatSession(hub, connector, outlet.push, outlet=outlet)
        connector.live.add(outlet)
        close_code, reason = 1000, b""
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    outlet.push(error_frame("bad_frame", "frames are JSON text"))
                    continue
                try:
                    await session.handle(parse_client_frame(msg.data))
                except ProtocolError as exc:
                    outlet.push(error_frame(exc.code, exc.message))
                except SessionRefused as exc:
                    outlet.push(error_frame(exc.code, exc.message))
                    close_code, reason = exc.close_code, exc.message.encode()[:120]
                    break
                except Exception:  # a frame must never take the socket down with a trace
                    log.exception("webchat %s: frame failed", self.channel_id)
                    outlet.push(error_frame("internal_error", "the hub failed on this frame; "
                                            "send it again"))
        finally:
            connector.live.discard(outlet)
            session.close()
            await outlet.finish()
            await ws.close(code=close_code, message=reason)
        return ws

    async def send(self, request: web.Request) -> web.StreamResponse:
        """The fallback's way in: one client frame per POST, the answers in the response."""
        if (refused := self._origin_refused(request)) is not None:
            return refused
        hub, connector = self._connector(request)
        frames: list[dict[str, Any]] = []
        try:
            frame = parse_client_frame(await request.read())
            visitor = None if isinstance(frame, Hello) else self._visitor(request)
            session = ChatSession(hub, connector, frames.append, visitor=visitor)
            await session.handle(frame)
        except ProtocolError as exc:
            return self._cors(request, json_error(400, exc.code, exc.message))
        except SessionRefused as exc:
            return self._cors(request, json_error(exc.http_status, exc.code, exc.message))
        return self._cors(request, json_response({"frames": frames}))

    async def poll(self, request: web.Request) -> web.StreamResponse:
        """Held until something arrives for the visitor (or `wait` seconds pass); missed
        messages come from the store first, so nothing falls between two polls."""
        if (refused := self._origin_refused(request)) is not None:
            return refused
        hub, connector = self._connector(request)
        try:
            visitor = self._visitor(request)
            raw = await request.read()
            body = PollBody.model_validate_json(raw or b"{}")
        except SessionRefused as exc:
            return self._cors(request, json_error(exc.http_status, exc.code, exc.message))
        except ValidationError as exc:
            return self._cors(request, json_error(400, "bad_frame", str(exc.errors()[0]["msg"])))
        outlet = PollOutlet()
        # attached before reading the store: a message committed meanwhile is pushed here
        session = ChatSession(hub, connector, outlet.push, visitor=visitor, outlet=outlet)
        connector.live.add(outlet)
        try:
            if await session.resume(body.last_id) == 0 and body.wait > 0:
                await outlet.wait(body.wait)
        finally:
            connector.live.discard(outlet)
            session.close()
        return self._cors(request, json_response({"frames": outlet.frames}))

    async def upload(self, request: web.Request) -> web.StreamResponse:
        """multipart/form-data with `client_id`, `file` and an optional `caption`: one
        message with the (re-encoded) file, acked once stored."""
        if (refused := self._origin_refused(request)) is not None:
            return refused
        try:
            response = await self._upload(request)
        except SessionRefused as exc:
            response = json_error(exc.http_status, exc.code, exc.message)
        except UploadRefused as exc:
            response = json_error(exc.status, exc.code, exc.message)
        return self._cors(request, response)

    async def _upload(self, request: web.Request) -> web.Response:
        hub, connector = self._connector(request)
        visitor = self._visitor(request)
        frames: list[dict[str, Any]] = []
        session = ChatSession(hub, connector, frames.append, visitor=visitor)
        limit = session.max_upload_bytes
        if (request.content_length or 0) > limit + 64 * 1024:
            raise UploadRefused(413, "payload_too_large", f"files are at most {limit} bytes")
        if not request.content_type.startswith("multipart/"):
            raise UploadRefused(400, "bad_upload", "send multipart/form-data with a `file`")
        fields: dict[str, str] = {}
        data = declared = name = None
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.name == "file":
                data = await _read_limited(part, limit, "payload_too_large",
                                           f"files are at most {limit} bytes", 413)
                declared, name = part.headers.get("Content-Type"), part.filename
            else:
                fields[part.name] = (await _read_limited(
                    part, _FIELD_LIMIT, "bad_upload", f"field {part.name} is too long", 400)
                ).decode(errors="replace")
        client_id = fields.get("client_id", "")
        if data is None or not _CLIENT_ID.fullmatch(client_id):
            raise UploadRefused(400, "bad_upload",
                                "send a `file` and a `client_id` of 8 to 64 letters, digits, - or _")
        settings = connector.settings
        prepared = await asyncio.to_thread(
            prepare_upload, data, declared, name, allowed=settings.file_type_allowed,
            max_side=settings.max_image_side)
        try:
            ref = await asyncio.to_thread(connector.context.media.put, prepared.data,
                                          prepared.mime, prepared.name)
        except MediaTooLarge as exc:
            raise UploadRefused(413, "payload_too_large", str(exc)) from None
        except MediaUnwritable:  # disk full: the visitor may try again; /readyz says why
            raise UploadRefused(503, "media_unwritable",
                                "files can't be stored right now; try again later") from None
        caption = fields.get("caption") or None
        part_model: Part = (ImagePart(media=ref, caption=caption) if prepared.is_image
                            else FilePart(media=ref, caption=caption))
        if not await session.send_message(client_id, [part_model]):
            error = frames[-1]
            return json_error(400 if error["code"] == "bad_message" else 503, error["code"],
                              error["message"])
        return json_response({"frames": frames})

    async def media(self, request: web.Request) -> web.StreamResponse:
        """A blob, to the visitor whose conversation it is in (and nobody else)."""
        if (refused := self._origin_refused(request)) is not None:
            return refused
        hub, connector = self._connector(request)
        sha256 = request.match_info["sha256"]
        try:
            visitor = self._visitor(request)
        except SessionRefused as exc:
            return self._cors(request, json_error(exc.http_status, exc.code, exc.message))
        not_found = self._cors(request, json_error(404, "not_found", "no such file here"))
        if not _SHA256.fullmatch(sha256):
            return not_found
        session = ChatSession(hub, connector, lambda frame: None, visitor=visitor)
        customer_id = await session.customer()
        message = customer_id and await owns_media(hub.store, customer_id, self.channel_id, sha256)
        if not message:
            return not_found
        ref = next(p.media for p in message.parts
                   if getattr(getattr(p, "media", None), "sha256", None) == sha256)
        try:
            path = connector.context.media.open(sha256)
        except MediaNotFound:
            return not_found
        disposition = "inline" if ref.mime.startswith("image/") else "attachment"
        if ref.name:
            disposition += f"; filename*=UTF-8''{quote(ref.name)}"
        response = web.FileResponse(path, headers={
            "Content-Type": ref.mime, "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600",
            "Content-Security-Policy": "default-src 'none'; sandbox"})
        return self._cors(request, response)

    async def agent_typing(self, request: web.Request) -> web.StreamResponse:
        """An agent is typing in a conversation of this channel (agent API token)."""
        hub, connector = self._connector(request)
        token = _bearer(request)
        principal = await authenticate(hub.db, token) if token else None
        if principal is None:
            return json_error(401, "unauthorized", "send Authorization: Bearer <agent token>")
        try:
            body = TypingBody.model_validate_json(await request.read() or b"{}")
        except ValidationError as exc:
            return json_error(400, "bad_payload", str(exc.errors()[0]["msg"]))
        conversation_id = request.match_info["conversation_id"]
        conversation = await hub.store.get_conversation(conversation_id)
        if conversation is None or conversation.channel_id != self.channel_id:
            return json_error(404, "not_found", f"no conversation {conversation_id!r} here")
        await connector.publish_to_customer(conversation.customer_id, {
            "type": "typing", "author": "agent", "active": body.active,
            "conversation_id": conversation_id})
        return json_response({"ok": True})


async def _read_limited(part: Any, limit: int, code: str, message: str, status: int) -> bytes:
    """Read one multipart field, refusing it as soon as it passes `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise UploadRefused(status, code, message)
        chunks.append(chunk)
    return b"".join(chunks)
