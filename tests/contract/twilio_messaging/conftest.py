"""Twilio Messaging contract fixtures: the REST stand-in, connectors on it, a whole hub."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from twilio_msg_support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    PUBLIC_URL,
    SMS_FROM,
    WA_FROM,
    FakeTwilio,
    MessagingHub,
)

from omnihub.connectors.base import ConnectorContext
from omnihub.connectors.twilio.messaging import TwilioSmsConnector, TwilioWhatsappConnector
from omnihub.connectors.twilio.messaging_settings import TwilioSmsSettings, TwilioWhatsappSettings
from omnihub.normalizer.media import MediaStore


@pytest.fixture
async def fake_twilio(serve_stand_in: Callable[..., Any]) -> FakeTwilio:
    return await serve_stand_in(FakeTwilio())


def channel(kind: str, fake: FakeTwilio, **extra: Any) -> dict[str, Any]:
    return {"id": "sms" if kind == "twilio_sms" else "wa", "type": kind,
            "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN,
            "from": SMS_FROM if kind == "twilio_sms" else WA_FROM,
            "api_base_url": fake.url, **extra}


@pytest.fixture
def make_connector(fake_twilio: FakeTwilio, http: aiohttp.ClientSession,
                   tmp_path: Path) -> Callable[..., Any]:
    """A connector on the stand-in, outside any hub (for send tests)."""

    def make(kind: str = "twilio_sms", **extra: Any) -> Any:
        context = ConnectorContext(http=http, public_url=PUBLIC_URL,
                                   media=MediaStore(tmp_path / "media"))
        if kind == "twilio_sms":
            return TwilioSmsConnector(
                TwilioSmsSettings(**channel(kind, fake_twilio, **extra)), context)
        return TwilioWhatsappConnector(
            TwilioWhatsappSettings(**channel(kind, fake_twilio, **extra)), context)

    return make


@pytest.fixture
async def make_messaging_hub(make_store_url: Callable[..., Any], start_hub: Callable[..., Any],
                             fake_twilio: FakeTwilio) -> Callable[..., Any]:
    """Hubs are closed (start_hub's teardown) before their databases are dropped."""

    async def make(*extra_channels: dict[str, Any], backend: str = "sqlite") -> MessagingHub:
        client = await start_hub({
            "store": {"url": await make_store_url(backend)},
            "server": {"public_url": PUBLIC_URL},
            "channels": [channel("twilio_sms", fake_twilio), channel("twilio_whatsapp", fake_twilio),
                         *extra_channels],
        })
        return MessagingHub(client)

    return make


@pytest.fixture
async def messaging_hub(make_messaging_hub: Callable[..., Any]) -> MessagingHub:
    return await make_messaging_hub()
