"""Twilio Voice contract helpers: fixtures, signing, the REST stand-in, a hub client."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient
from stand_in import StandIn
from twilio.request_validator import RequestValidator

from omnihub.hub.runtime import HUB, Hub
from omnihub.store.tables import messages, outbox

FIXTURES = Path(__file__).parent / "fixtures"
ACCOUNT_SID = "AC3f2b9c0d4e5a6b7c8d9e0f1a2b3c4d5e"
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
SIGNING_KEY = "test-shared-key-secret-0123456789"
PUBLIC_URL = "https://hub.example.test"
CHANNEL = "phone"
CALL_SID = "CA8d4f2e6a1b3c5d7e9f0a2b4c6d8e0f1a"
RECORDING_SID = "RE5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b"
CALLER = "+12125550147"
NUMBER = "+14155550100"
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" * 64  # an MP3 header, then frames

#: the query each fixture's event is posted with (the URL our TwiML gave Twilio)
EVENT_QUERY = {
    "incoming_call": "",
    "gather": "?event=gather&attempt=1",
    "queue_wait": "?event=wait&group=after-sales",
    "queue_result": "?event=queue&group=after-sales",
    "dial_action": "?event=dial&group=after-sales",
    "agent_leg": "?event=agent&agent=li.na",
    "record_action": "?event=recorded",
    "recording_status": "?event=recording",
    "transcription": "?event=transcription",
    "call_status": "?event=status",
    "sms_status": "?event=sms_status",
}


def fixture_names() -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob("*.form"))


def load(name: str) -> bytes:
    return (FIXTURES / f"{name}.form").read_bytes()


def form_of(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode(), keep_blank_values=True))


def url_for(name: str) -> str:
    """The public URL Twilio calls for this fixture's event."""
    return f"{PUBLIC_URL}/webhooks/{CHANNEL}{EVENT_QUERY[name.split('__')[0]]}"


def sign(url: str, body: bytes, *, secret: str = AUTH_TOKEN,
         algorithm: str | None = None) -> str:
    """X-Twilio-Signature as Twilio computes it, with the SDK's own code."""
    return RequestValidator(secret).compute_signature(url, form_of(body), algorithm)


def calendars(*, open_now: bool) -> dict[str, Any]:
    """A calendar open around the clock, closed today (a holiday) unless `open_now`."""
    today = date.today()
    every_day = {day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    holidays = [] if open_now else [f"{today - timedelta(days=2)}..{today + timedelta(days=2)}"]
    return {"desk": {"hours": every_day, "holidays": holidays}}


def routing(*, open_now: bool = True) -> dict[str, Any]:
    return {
        "timezone": "UTC",
        "default_calendar": "desk",
        "calendars": calendars(open_now=open_now),
        "channels": {"twilio_voice": {"priority": 100, "first_response": "30s"},
                     "default": {"priority": 30}},
        "groups": {"after-sales": {"agents": ["li.na", "wang.wei"]},
                   "logistics": {"agents": ["zhang.min"]}},
        "agents": [{"id": "li.na"}, {"id": "wang.wei"}, {"id": "zhang.min"}],
    }


MENU = [
    {"digits": "1", "group": "after-sales", "say": "For returns and refunds, press 1.",
     "speech": ["refund", "return"]},
    {"digits": "2", "group": "logistics", "say": "For your delivery, press 2.",
     "speech": ["delivery", "parcel"]},
]


def channel_config(api_url: str, **overrides: Any) -> dict[str, Any]:
    return {"id": CHANNEL, "type": "twilio_voice", "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN, "from": NUMBER, "api_base_url": api_url,
            "menu": MENU, "default_group": "after-sales", **overrides}


@dataclass
class FakeTwilio(StandIn):
    """Twilio's REST API on a local port, as much as a phone channel uses: recordings
    (`GET /2010-04-01/Accounts/<sid>/Recordings/<sid>.mp3`, basic auth with the account
    SID and Auth Token) and `POST …/Messages.json` for SMS replies."""

    recordings: dict[str, bytes] = field(default_factory=dict)
    downloads: list[str] = field(default_factory=list)
    sent: list[dict[str, str]] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        prefix = f"/2010-04-01/Accounts/{ACCOUNT_SID}"
        app.router.add_get(prefix + "/Recordings/{name}", self.recording)
        app.router.add_post(prefix + "/Messages.json", self.message)
        return app

    def _authorized(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    async def recording(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        if self.fail_next:
            return web.Response(status=self.fail_next.pop(0))
        name = request.match_info["name"]
        sid, _, ext = name.partition(".")
        if sid not in self.recordings or ext != "mp3":
            return web.json_response({"code": 20404, "message": "not found"}, status=404)
        self.downloads.append(name)
        return web.Response(body=self.recordings[sid], content_type="audio/mpeg")

    async def message(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        form = dict(await request.post())
        self.sent.append({k: str(v) for k, v in form.items()})
        sid = f"SM{len(self.sent):032x}"
        return web.json_response({"sid": sid, "status": "queued", "to": form.get("To"),
                                  "from": form.get("From"), "body": form.get("Body"),
                                  "account_sid": ACCOUNT_SID}, status=201)


class VoiceHub:
    """A running hub with one `twilio_voice` channel, and ways to post to it as Twilio."""

    def __init__(self, client: TestClient) -> None:
        self.http = client

    @property
    def hub(self) -> Hub:
        return self.http.app[HUB]

    async def post(self, name: str, body: bytes | None = None, *, url: str | None = None,
                   signature: str | None = None, headers: dict[str, str] | None = None,
                   content_type: str = "application/x-www-form-urlencoded") -> Any:
        """Post a fixture (or `body`) to its event URL, signed unless told otherwise."""
        body = load(name) if body is None else body
        url = url or url_for(name)
        path = url.removeprefix(PUBLIC_URL)
        sent = {"Content-Type": content_type,
                "X-Twilio-Signature": sign(url, body) if signature is None else signature,
                **(headers or {})}
        return await self.http.post(path, data=body, headers=sent)

    async def messages(self) -> list[dict[str, Any]]:
        async with self.hub.db.read() as conn:
            rows = await conn.execute(sa.select(messages).order_by(messages.c.id))
            return [dict(r._mapping) for r in rows]

    async def events(self, type: str) -> list[dict[str, Any]]:
        async with self.hub.db.read() as conn:
            rows = await conn.execute(sa.select(outbox.c.payload).where(
                outbox.c.topic == "event", outbox.c.type == type).order_by(outbox.c.seq))
            return list(rows.scalars())

    async def call(self) -> dict[str, Any]:
        """The call part of the one stored call."""
        [row] = await self.messages()
        [part] = row["parts"]
        return dict(part)
