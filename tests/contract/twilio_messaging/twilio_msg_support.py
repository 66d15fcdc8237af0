"""Twilio Messaging contract helpers: fixtures, signatures, the Messages API stand-in."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient
from stand_in import StandIn
from twilio.request_validator import RequestValidator

from omnihub.hub.runtime import HUB, Hub
from omnihub.store.tables import messages, outbox

FIXTURES = Path(__file__).parent / "fixtures"
ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"  # the one the fixtures carry
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
PUBLIC_URL = "https://hub.example.test"
SMS_FROM = "+14155550100"
WA_FROM = "whatsapp:+14155238886"
CUSTOMER = "+14155550123"

# Bytes the stand-in serves per media SID, by the type they should sniff as.
MAGIC = {
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "image/png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "audio/ogg": b"OggS\x00\x02\x00\x00",
    "video/mp4": b"\x00\x00\x00\x18ftypmp42",
    "application/pdf": b"%PDF-1.7\n",
}
VCARD = (b"BEGIN:VCARD\r\nVERSION:3.0\r\nN:Lima;Bruno;;;\r\nFN:Bruno Lima\r\n"
         b"item1.TEL;waid=5511988887777:+55 11 98888-7777\r\nitem1.X-ABLabel:Mobile\r\n"
         b"END:VCARD\r\n")


def fixture_names() -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob("*.form"))


def raw(name: str) -> bytes:
    return (FIXTURES / f"{name}.form").read_bytes()


def form(name: str) -> dict[str, str]:
    return dict(parse_qsl(raw(name).decode(), keep_blank_values=True))


def sign(url: str, body: bytes, token: str = AUTH_TOKEN) -> str:
    """X-Twilio-Signature for a form POST to `url`, the way Twilio computes it."""
    params = dict(parse_qsl(body.decode(errors="replace"), keep_blank_values=True))
    return RequestValidator(token).compute_signature(url, params)


def media_bytes(mime: str, media_sid: str) -> bytes:
    if mime == "text/vcard":
        return VCARD
    return MAGIC[mime] + media_sid.encode() * 8


def media_of(name: str) -> dict[str, tuple[str, str]]:
    """media SID -> (its MediaUrl, its content type), for the media a fixture names."""
    f = form(name)
    return {f[f"MediaUrl{i}"].rpartition("/")[2]: (f[f"MediaUrl{i}"], f[f"MediaContentType{i}"])
            for i in range(int(f.get("NumMedia", "0")))}


@dataclass
class Sent:
    """One Messages API call the stand-in took."""

    account_sid: str
    params: dict[str, list[str]]

    def one(self, key: str) -> str | None:
        values = self.params.get(key)
        return values[0] if values else None


@dataclass
class FakeTwilio(StandIn):
    """Speaks the slice of Twilio's REST API the connectors use, on a local port:
    `POST /2010-04-01/Accounts/<sid>/Messages.json` (form, HTTP basic auth, 201 JSON) and
    media: `GET …/Messages/<MM>/Media/<ME>` -> 307 to a CDN URL, as the real one does."""

    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    sent: list[Sent] = field(default_factory=list)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # ME sid -> (bytes, type)
    media_requests: list[str] = field(default_factory=list)
    #: create call number (1-based) -> the error it gets
    failures: dict[int, tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=dict)
    media_failures: list[int] = field(default_factory=list)
    next_sid: int = 0

    def app(self) -> web.Application:
        app = web.Application()
        base = "/2010-04-01/Accounts/{sid}"
        app.router.add_post(base + "/Messages.json", self.create_message)
        app.router.add_get(base + "/Messages/{mm}/Media/{me}", self.get_media)
        app.router.add_get("/cdn/{me}", self.cdn)
        return app

    def fail(self, status: int, code: int, message: str, *,
             retry_after: str | None = None, at: int | None = None) -> None:
        """Create call number `at` (default: the next one) gets Twilio's JSON error."""
        body = {"code": code, "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.failures[at or len(self.sent) + 1] = (status, body, headers)

    def serve_media_of(self, name: str) -> None:
        for sid, (_, mime) in media_of(name).items():
            self.media[sid] = (media_bytes(mime, sid), mime)

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return (user == self.account_sid and password == self.auth_token
                and request.match_info.get("sid", user) == user)

    @staticmethod
    def _unauthorized() -> web.Response:
        return web.json_response({"code": 20003, "message": "Authenticate",
                                  "more_info": "https://www.twilio.com/docs/errors/20003",
                                  "status": 401}, status=401)

    async def create_message(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        assert request.content_type == "application/x-www-form-urlencoded"
        params: dict[str, list[str]] = {}
        for key, value in parse_qsl((await request.read()).decode(), keep_blank_values=True):
            params.setdefault(key, []).append(value)
        self.sent.append(Sent(request.match_info["sid"], params))
        if len(self.sent) in self.failures:
            status, body, headers = self.failures.pop(len(self.sent))
            return web.json_response(body, status=status, headers=headers)
        self.next_sid += 1
        sid = f"SM{self.next_sid:032x}"
        return web.json_response({
            "account_sid": self.account_sid, "api_version": "2010-04-01",
            "body": params.get("Body", [""])[0], "date_created": "Thu, 26 Nov 2026 07:30:00 +0000",
            "date_sent": None, "date_updated": "Thu, 26 Nov 2026 07:30:00 +0000",
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": params["From"][0], "messaging_service_sid": None,
            "num_media": str(len(params.get("MediaUrl", []))), "num_segments": "1",
            "price": None, "price_unit": "USD", "sid": sid, "status": "queued",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/"
                                          f"{sid}/Media.json"},
            "to": params["To"][0],
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }, status=201)

    async def get_media(self, request: web.Request) -> web.Response:
        self.media_requests.append(request.path)
        if not self._authorized(request):
            return self._unauthorized()
        if self.media_failures:
            return web.Response(status=self.media_failures.pop(0))
        me = request.match_info["me"]
        if me not in self.media:
            return web.json_response({"code": 20404, "message": "not found", "status": 404},
                                     status=404)
        raise web.HTTPTemporaryRedirect(f"/cdn/{me}")

    async def cdn(self, request: web.Request) -> web.Response:
        content, mime = self.media[request.match_info["me"]]
        return web.Response(body=content, content_type=mime)


class MessagingHub:
    """A running hub with an SMS channel `sms` and a WhatsApp channel `wa`."""

    def __init__(self, client: TestClient) -> None:
        self.http = client

    @property
    def hub(self) -> Hub:
        return self.http.app[HUB]

    async def post(self, channel: str, body: bytes | str, *, signature: str | None = None,
                   query: str = "", content_type: str = "application/x-www-form-urlencoded",
                   signed: bool = True) -> Any:
        data = body.encode() if isinstance(body, str) else body
        path = f"/webhooks/{channel}" + (f"?{query}" if query else "")
        headers = {"Content-Type": content_type}
        if signed:
            headers["X-Twilio-Signature"] = signature or sign(PUBLIC_URL + path, data)
        return await self.http.post(path, data=data, headers=headers)

    async def messages(self) -> list[dict[str, Any]]:
        async with self.hub.db.read() as conn:
            rows = await conn.execute(sa.select(messages).order_by(messages.c.id))
            return [dict(r._mapping) for r in rows]

    async def events(self, type: str) -> list[dict[str, Any]]:
        stmt = (sa.select(outbox.c.payload).where(outbox.c.topic == "event",
                                                 outbox.c.type == type).order_by(outbox.c.seq))
        async with self.hub.db.read() as conn:
            return list((await conn.execute(stmt)).scalars())


def encode(pairs: dict[str, str]) -> bytes:
    return urlencode(pairs).encode()
