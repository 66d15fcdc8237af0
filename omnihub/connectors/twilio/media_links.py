"""Signed, expiring public links to attachments, for Twilio to fetch when it sends them.

The Messages API takes media only as a URL (`MediaUrl`) that Twilio downloads itself,
and agents' attachments live in omnihub's media store. So each attachment goes out as
`<public_url>/twilio/<channel id>/media/<sha256>?type=…&expires=…&signature=…`: an
HMAC-SHA256 with the channel's Auth Token over everything in the link, valid for
`media_link_seconds`. Nothing else of the store is reachable through it, and Twilio
checks the Content-Type it is served against the file (so it is part of the link).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from urllib.parse import urlencode

from aiohttp import web

from omnihub.normalizer.media import MediaError
from omnihub.normalizer.schema import MediaRef

__all__ = ["media_link", "media_route", "verify_link"]

_SHA256 = re.compile(r"[0-9a-f]{64}")
_MIME = re.compile(r"[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*")


def _signature(secret: str, channel_id: str, sha256: str, mime: str, expires: int) -> str:
    message = f"{channel_id}\n{sha256}\n{mime}\n{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def media_path(channel_id: str) -> str:
    return f"/twilio/{channel_id}/media/{{sha256}}"


def media_link(public_url: str, channel_id: str, secret: str, ref: MediaRef, *,
               ttl_seconds: int, now: float | None = None) -> str:
    """A link to `ref` that Twilio may fetch until it expires."""
    expires = int((time.time() if now is None else now) + ttl_seconds)
    mime = ref.mime.lower() if _MIME.fullmatch(ref.mime.lower()) else "application/octet-stream"
    query = urlencode({"type": mime, "expires": expires,
                       "signature": _signature(secret, channel_id, ref.sha256, mime, expires)})
    return (f"{public_url.rstrip('/')}"
            f"{media_path(channel_id).format(sha256=ref.sha256)}?{query}")


def verify_link(secret: str, channel_id: str, sha256: str, query: dict[str, str], *,
                now: float | None = None) -> str | None:
    """The content type a valid, unexpired link names; None for anything else."""
    mime, expires, given = query.get("type", ""), query.get("expires", ""), query.get(
        "signature", "")
    if not (_SHA256.fullmatch(sha256) and _MIME.fullmatch(mime) and expires.isdigit()):
        return None
    if int(expires) < (time.time() if now is None else now):
        return None
    wanted = _signature(secret, channel_id, sha256, mime, int(expires))
    return mime if hmac.compare_digest(wanted, given) else None


def media_route(channel_id: str) -> web.RouteDef:
    """`GET /twilio/<channel id>/media/<sha256>`: the blob, to whoever holds a valid link."""

    async def serve(request: web.Request) -> web.StreamResponse:
        from omnihub.hub.http import json_error
        from omnihub.hub.runtime import HUB

        connector = request.app[HUB].connectors.get(channel_id)
        secret = getattr(getattr(connector, "settings", None), "auth_token", None)
        sha256 = request.match_info["sha256"]
        mime = secret and verify_link(secret, channel_id, sha256, dict(request.query))
        if not mime or connector is None:
            return json_error(403, "forbidden", "missing, wrong or expired media link")
        try:
            path = connector.context.media.open(sha256)
        except MediaError:
            return json_error(404, "not_found", "no such media")
        return web.FileResponse(path, headers={
            "Content-Type": mime, "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=300"})

    return web.get(media_path(channel_id), serve, allow_head=False)
