"""The phone channel's settings and the TwiML they produce (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from voice_support import ACCOUNT_SID, AUTH_TOKEN, MENU, NUMBER

from omnihub.connectors.twilio.voice_settings import TwilioVoiceSettings
from omnihub.connectors.twilio.voice_twiml import Callbacks, hold, menu, voicemail

CALLBACKS = Callbacks("https://hub.example.test/webhooks/phone")


def settings(**overrides: Any) -> TwilioVoiceSettings:
    return TwilioVoiceSettings.model_validate({
        "id": "phone", "type": "twilio_voice", "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN, "from": NUMBER, "menu": MENU, **overrides})


def test_from_is_written_as_from_in_yaml() -> None:
    assert settings().from_ == NUMBER


@pytest.mark.parametrize(("overrides", "message"), [
    ({"voicemail_max_seconds": 121}, "less than or equal to 120"),
    ({"from": "whatsapp:+14155550100"}, "E.164"),
    ({"agent_phones": {"li.na": "138 0013 8000"}}, "agent 'li.na'"),
    ({"menu": [*MENU, {**MENU[0], "group": "inquiry"}]}, "digits '1' are used twice"),
    ({"menu": [{"digits": "1", "group": "after-sales"}]}, "say"),
    ({"account_sid": "AC123"}, "account_sid"),
    ({"auth_tokn": AUTH_TOKEN}, "auth_tokn"),
])
def test_bad_settings_are_refused_with_a_clear_message(overrides: dict[str, Any],
                                                       message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        settings(**overrides)

    assert message in str(caught.value)


def test_an_option_is_chosen_by_key_or_by_words() -> None:
    config = settings()

    assert config.option_for("2", None).group == "logistics"  # type: ignore[union-attr]
    assert config.option_for(None, "I want a Refund").group == "after-sales"  # type: ignore[union-attr]
    assert config.option_for(None, "after sales please").group == "after-sales"  # type: ignore[union-attr]
    assert config.option_for("7", "hello") is None
    assert config.groups() == ["after-sales", "logistics"]


def test_the_menu_gathers_keys_and_speech_and_says_every_option() -> None:
    xml = str(menu(settings(voice="Polly.Joanna"), CALLBACKS))

    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Say ')
    assert '<Gather action="https://hub.example.test/webhooks/phone?event=gather&amp;attempt=1"' \
        in xml
    assert 'input="dtmf speech"' in xml and 'numDigits="1"' in xml
    assert 'hints="after-sales, refund, return, logistics, delivery, parcel"' in xml
    assert 'voice="Polly.Joanna"' in xml
    assert "For returns and refunds, press 1." in xml and "For your delivery, press 2." in xml
    assert "Thank you for calling." in xml


def test_a_repeated_menu_skips_the_greeting() -> None:
    xml = str(menu(settings(), CALLBACKS, attempt=2, retry=True))

    assert "Thank you for calling." not in xml and "did not understand" in xml
    assert "attempt=2" in xml


def test_voicemail_is_bounded_and_transcribed_unless_turned_off() -> None:
    xml = str(voicemail(settings(voicemail_max_seconds=60), CALLBACKS))
    silent = str(voicemail(settings(transcribe=False), CALLBACKS))

    assert 'maxLength="60"' in xml and 'transcribe="true"' in xml
    assert 'recordingStatusCallbackEvent="completed"' in xml
    assert "transcribe" not in silent and 'maxLength="120"' in silent


def test_hold_leaves_the_queue_after_the_timeout() -> None:
    config = settings(queue_timeout_seconds=60)

    assert "<Leave" in str(hold(config, waited=60))
    assert "<Leave" not in str(hold(config, waited=59)) and "<Pause" in str(hold(config, waited=None))


def test_the_example_routing_gives_calls_the_top_priority() -> None:
    from pathlib import Path

    from omnihub.router.load import load_routing

    example = Path(__file__).parents[3] / "config" / "examples" / "routing.yaml"
    channels = load_routing(example).channels
    top = max(channel.priority for channel in channels.values())
    assert channels["twilio_voice"].priority == top
    assert all(channels[t].priority < top for t in channels if t not in {"voice", "twilio_voice"})
