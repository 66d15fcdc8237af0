"""The agents' workbench at /inbox/: three static files (no build step) and `GET /api/v1/me`.

The page lives outside /api/v1, so it is served without a token; everything it shows
comes from the agent API, which the page calls with the token the agent signs in with
(kept in sessionStorage). The live list reads `GET /api/v1/events` with fetch() and the
Authorization header, not EventSource: EventSource cannot send headers, and a token in
the URL would end up in logs and browser history.

A strict Content-Security-Policy forbids inline scripts and foreign origins, a second
line of defence behind the page's rule of rendering every text with textContent.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.resources import files

from aiohttp import web

from omnihub.hub.http import json_response
from omnihub.inbox.auth import principal_of

ASSETS = {"app.js": "application/javascript", "app.css": "text/css"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data: blob:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/inbox", to_workbench)
    r.add_get("/inbox/", workbench_page)
    r.add_get("/inbox/{name:app\\.(?:js|css)}", workbench_asset)
    r.add_get("/api/v1/me", whoami)


@cache
def _static(name: str) -> tuple[bytes, str]:
    body = files("omnihub.inbox").joinpath("static", name).read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


async def to_workbench(request: web.Request) -> web.Response:
    """Relative asset URLs need the trailing slash."""
    raise web.HTTPPermanentRedirect("/inbox/")


async def workbench_page(request: web.Request) -> web.Response:
    body, _ = _static("index.html")
    return web.Response(body=body, content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-cache", **SECURITY_HEADERS})


async def workbench_asset(request: web.Request) -> web.Response:
    """The script and the style sheet, revalidated by ETag so a new release shows at once."""
    name = request.match_info["name"]
    body, etag = _static(name)
    headers = {"ETag": etag, "Cache-Control": "no-cache", **SECURITY_HEADERS}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type=ASSETS[name], charset="utf-8", headers=headers)


async def whoami(request: web.Request) -> web.Response:
    """Who the token acts as: the workbench needs the agent's name to take a conversation."""
    principal = principal_of(request)
    return json_response({"agent": principal.agent, "role": principal.role})
