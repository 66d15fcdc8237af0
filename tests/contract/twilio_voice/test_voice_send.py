"""An agent's written reply on a phone conversation: refused, or an SMS when asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from voice_support import CALLER, NUMBER, FakeTwilio, channel_config

from omnihub.connectors.base import ConnectorContext, OutboundMessage
from omnihub.connectors.errors import NotSupported, PermanentSendError
from omnihub.connectors.twilio.voice import TwilioVoiceConnector
from omnihub.connectors.twilio.voice_settings import TwilioVoiceSettings
from omnihub.normalizer.media import MediaStore
from omnihub.normalizer.schema import Identity, TextPart


def connector(api: FakeTwilio, http: aiohttp.ClientSession, tmp_path: Path,
              **overrides: Any) -> TwilioVoiceConnector:
    settings = TwilioVoiceSettings.model_validate(channel_config(api.url, **overrides))
    context = ConnectorContext(http=http, public_url="https://hub.example.test",
                               media=MediaStore(tmp_path / "media"))
    return TwilioVoiceConnector(settings, context)


def reply(text: str) -> OutboundMessage:
    return OutboundMessage(message_id="01OUT", conversation_id="01CONV", channel_id="phone",
                           recipient=Identity(kind="phone", address=CALLER), thread_key=None,
                           parts=[TextPart(text=text)], author="agent:li.na")


async def test_a_reply_is_refused_by_default(twilio_api: FakeTwilio, http, tmp_path) -> None:
    with pytest.raises(NotSupported, match="sms_reply: true"):
        await connector(twilio_api, http, tmp_path).send(reply("We will call you back"))

    assert twilio_api.sent == []


async def test_with_sms_reply_it_goes_out_as_an_sms_from_the_number(
        twilio_api: FakeTwilio, http, tmp_path) -> None:
    phone = connector(twilio_api, http, tmp_path, sms_reply=True)

    receipt = await phone.send(reply("Your refund is on its way."))

    assert twilio_api.sent == [{"To": CALLER, "From": NUMBER, "Body": "Your refund is on its way.",
                                "StatusCallback": "https://hub.example.test/webhooks/phone"
                                                  "?event=sms_status"}]
    assert receipt.external_id is not None and receipt.external_id.startswith("SM")


async def test_an_sms_reply_over_the_limit_is_refused(twilio_api: FakeTwilio, http,
                                                      tmp_path) -> None:
    phone = connector(twilio_api, http, tmp_path, sms_reply=True)

    with pytest.raises(PermanentSendError, match="1600"):
        await phone.send(reply("x" * 1601))
    assert twilio_api.sent == []
