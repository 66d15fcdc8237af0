"""Hostile input at every connector's door: real payloads, mutated at random, correctly
signed (so the parser, not the signature check, meets them), must either parse into the
schema or be refused with one of the documented ConnectorError types — never anything
else, which the hub would answer with a 500.

Mutations start from the providers' own fixtures: a random subtree replaced by another
JSON value (wrong types, nulls, huge numbers, deep nesting, odd Unicode) or deleted, a
form field dropped or filled with junk. Downloads a parse may try (Telegram files,
Twilio media) go to a closed local port and must end in the documented errors too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from omnihub.connectors.api.connector import ApiConnector
from omnihub.connectors.api.settings import ApiChannelSettings
from omnihub.connectors.base import Connector, ConnectorContext, ParsedWebhook, WebhookRequest
from omnihub.connectors.errors import ConnectorError
from omnihub.connectors.slack.connector import SlackConnector
from omnihub.connectors.slack.settings import SlackSettings
from omnihub.connectors.telegram.connector import SECRET_HEADER, TelegramConnector
from omnihub.connectors.telegram.settings import TelegramSettings
from omnihub.connectors.twilio.messaging import TwilioSmsConnector, TwilioWhatsappConnector
from omnihub.connectors.twilio.messaging_settings import TwilioSmsSettings, TwilioWhatsappSettings
from omnihub.connectors.twilio.voice import TwilioVoiceConnector
from omnihub.connectors.twilio.voice_settings import TwilioVoiceSettings
from omnihub.hub import signing
from omnihub.normalizer.media import MediaStore

CONTRACT = Path(__file__).parent.parent / "contract"
PUBLIC_URL = "https://hub.example.test"
CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens, a download fails at once
SECRET = "fuzz-secret-0123456789abcdef"
TWILIO_SID = "AC" + "0" * 32
EXAMPLES = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def json_fixtures(provider: str) -> list[Any]:
    return [json.loads(p.read_text()) for p in sorted((CONTRACT / provider / "fixtures").glob("*.json"))]


def form_fixtures(provider: str) -> list[dict[str, str]]:
    return [dict(parse_qsl(p.read_text().strip(), keep_blank_values=True))
            for p in sorted((CONTRACT / provider / "fixtures").glob("*.form"))]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
    | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=12,
)


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths_of(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths_of(child, (*prefix, index))
    return found


@st.composite
def mutated_json(draw: st.DrawFn, fixtures: list[Any]) -> Any:
    """A fixture with 1-3 subtrees replaced by random JSON or removed."""
    document = json.loads(json.dumps(draw(st.sampled_from(fixtures))))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths_of(document)))
        if not path:
            return draw(json_values)
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return document


@st.composite
def mutated_form(draw: st.DrawFn, fixtures: list[dict[str, str]]) -> dict[str, str]:
    form = dict(draw(st.sampled_from(fixtures)))
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(sorted(form)) | st.text(min_size=1, max_size=12))
        if draw(st.booleans()) and key in form:
            del form[key]
        else:
            form[key] = draw(st.text(max_size=60))
    return form


def request(url: str, body: bytes, headers: dict[str, str],
            content_type: str = "application/json") -> WebhookRequest:
    return WebhookRequest(method="POST", url=url, headers={"Content-Type": content_type,
                                                           **headers},
                          query={}, body=body, content_type=content_type,
                          received_at=datetime.now(UTC))


def slack_headers(body: bytes) -> dict[str, str]:
    ts = str(int(time.time()))
    mac = hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + mac.hexdigest()}


def twilio_signed(url: str, form: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    signature = RequestValidator(SECRET).compute_signature(url, form)
    return urlencode(form).encode(), {"X-Twilio-Signature": signature}


@pytest.fixture
async def context(tmp_path: Path) -> AsyncIterator[ConnectorContext]:
    async with aiohttp.ClientSession() as http:
        yield ConnectorContext(http=http, public_url=PUBLIC_URL,
                               media=MediaStore(tmp_path / "media"))


async def survives(connector: Connector, webhook: WebhookRequest) -> ParsedWebhook | None:
    """Parse; a documented refusal is fine, anything else fails the test."""
    try:
        return await connector.parse_webhook(webhook)
    except ConnectorError:
        return None


def make(cls: type[Connector], model: Callable[..., Any], context: ConnectorContext,
         **fields: Any) -> Connector:
    return cls(model(**fields), context)


@EXAMPLES
@given(payload=mutated_json(json_fixtures("telegram")))
async def test_telegram(context: ConnectorContext, payload: Any) -> None:
    connector = make(TelegramConnector, TelegramSettings, context, id="tg",
                     token="7012345678:AAHfakeTokenForTests_0123456789abc",
                     secret_token="fuzz-secret-0123456789", api_base_url=CLOSED)
    await survives(connector, request(f"{PUBLIC_URL}/webhooks/tg", json.dumps(payload).encode(),
                                      {SECRET_HEADER: "fuzz-secret-0123456789"}))


@EXAMPLES
@given(payload=mutated_json(json_fixtures("slack")))
async def test_slack(context: ConnectorContext, payload: Any) -> None:
    connector = make(SlackConnector, SlackSettings, context, id="sl", bot_token="xoxb-fuzz",
                     signing_secret=SECRET, api_base_url=CLOSED)
    body = json.dumps(payload).encode()
    await survives(connector, request(f"{PUBLIC_URL}/webhooks/sl", body, slack_headers(body)))


API_POSTS = [{"external_id": "m-1", "customer": {"external_id": "c-1", "name": "Ann",
                                                 "email": "ann@example.com",
                                                 "phone": "+8613800138000"},
              "text": "where is my parcel?", "thread": "order-1"},
             {"external_id": "m-2", "customer": {"external_id": "c-2"},
              "parts": [{"kind": "text", "text": "hi", "html": "<b>hi</b>"},
                        {"kind": "location", "latitude": 31.2, "longitude": 121.5}]}]


@EXAMPLES
@given(payload=mutated_json(API_POSTS))
async def test_api_channel(context: ConnectorContext, payload: Any) -> None:
    connector = make(ApiConnector, ApiChannelSettings, context, id="shop", secret=SECRET)
    body = json.dumps(payload).encode()
    await survives(connector, request(f"{PUBLIC_URL}/webhooks/shop", body,
                                      {signing.HEADER: signing.sign(SECRET, body)}))


@EXAMPLES
@given(form=mutated_form(form_fixtures("twilio_messaging")), whatsapp=st.booleans())
async def test_twilio_messaging(context: ConnectorContext, form: dict[str, str],
                                whatsapp: bool) -> None:
    cls, model = ((TwilioWhatsappConnector, TwilioWhatsappSettings) if whatsapp
                  else (TwilioSmsConnector, TwilioSmsSettings))
    connector = make(cls, model, context, id="tw", account_sid=TWILIO_SID, auth_token=SECRET,
                     **{"from": "+14155550100"}, api_base_url=CLOSED)
    url = f"{PUBLIC_URL}/webhooks/tw"
    body, headers = twilio_signed(url, form)
    await survives(connector, request(url, body, headers, "application/x-www-form-urlencoded"))


@EXAMPLES
@given(form=mutated_form(form_fixtures("twilio_voice")),
       event=st.sampled_from(["", "gather", "status", "wait", "queue", "dial", "agent",
                              "recorded", "recording", "transcription", "nonsense"]))
async def test_twilio_voice(context: ConnectorContext, form: dict[str, str], event: str) -> None:
    connector = make(TwilioVoiceConnector, TwilioVoiceSettings, context, id="phone",
                     account_sid=TWILIO_SID, auth_token=SECRET, **{"from": "+14155550100"},
                     api_base_url=CLOSED,
                     menu=[{"digits": "1", "group": "after-sales", "say": "Press 1."}])
    url = f"{PUBLIC_URL}/webhooks/phone" + (f"?event={event}" if event else "")
    body, headers = twilio_signed(url, form)
    webhook = request(url, body, headers, "application/x-www-form-urlencoded")
    webhook = WebhookRequest(**{**{f: getattr(webhook, f) for f in webhook.__slots__},
                                "query": {"event": event} if event else {}})
    await survives(connector, webhook)


async def test_the_harness_signs_like_the_providers(context: ConnectorContext) -> None:
    """Unmutated fixtures get through the signature checks above: the fuzzing reaches the
    parsers (a harness whose every input died at the signature would prove nothing)."""
    tg = make(TelegramConnector, TelegramSettings, context, id="tg",
              token="7012345678:AAHfakeTokenForTests_0123456789abc",
              secret_token="fuzz-secret-0123456789", api_base_url=CLOSED)
    text = next(p for p in json_fixtures("telegram") if "text" in p.get("message", {}))
    assert (await survives(tg, request(f"{PUBLIC_URL}/webhooks/tg", json.dumps(text).encode(),
                                       {SECRET_HEADER: "fuzz-secret-0123456789"}))).messages
    shop = make(ApiConnector, ApiChannelSettings, context, id="shop", secret=SECRET)
    body = json.dumps(API_POSTS[0]).encode()
    assert (await survives(shop, request(f"{PUBLIC_URL}/webhooks/shop", body,
                                         {signing.HEADER: signing.sign(SECRET, body)}))).messages
    sl = make(SlackConnector, SlackSettings, context, id="sl", bot_token="xoxb-fuzz",
              signing_secret=SECRET, api_base_url=CLOSED)
    body = json.dumps(next(p for p in json_fixtures("slack")
                           if p.get("event", {}).get("channel_type") == "im")).encode()
    assert await survives(sl, request(f"{PUBLIC_URL}/webhooks/sl", body,
                                      slack_headers(body))) is not None
    sms = make(TwilioSmsConnector, TwilioSmsSettings, context, id="tw", account_sid=TWILIO_SID,
               auth_token=SECRET, **{"from": "+14155550100"}, api_base_url=CLOSED)
    form = next(f for f in form_fixtures("twilio_messaging") if f.get("NumMedia") == "0")
    body, headers = twilio_signed(f"{PUBLIC_URL}/webhooks/tw", form)
    assert (await survives(sms, request(f"{PUBLIC_URL}/webhooks/tw", body, headers,
                                        "application/x-www-form-urlencoded"))).messages
