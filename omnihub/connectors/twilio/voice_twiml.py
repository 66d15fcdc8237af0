"""The TwiML a call is answered with, built with the twilio SDK's VoiceResponse. Pure.

Every `action`/callback URL comes from `Callbacks`, so they all point at the channel's own
`POST /webhooks/{id}?event=…` under the hub's public URL — the URL Twilio then signs.
TwiML reference: https://www.twilio.com/docs/voice/twiml
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from aiohttp import web
from twilio.twiml.voice_response import VoiceResponse

from omnihub.connectors.twilio.voice_settings import MenuOption, TwilioVoiceSettings

__all__ = ["Callbacks", "connect", "goodbye", "hangup", "hold", "menu", "twiml_response",
           "voicemail"]

#: the menu again after a key that matches no option
NOT_UNDERSTOOD = "Sorry, I did not understand."


@dataclass(frozen=True, slots=True)
class Callbacks:
    """Absolute callback URLs of one channel: `<public_url>/webhooks/<id>?event=<event>&…`."""

    base: str  # <public_url>/webhooks/<channel id>

    def __call__(self, event: str, **params: str | int) -> str:
        return f"{self.base}?{urlencode({'event': event, **params})}"


def twiml_response(response: VoiceResponse) -> web.Response:
    return web.Response(text=str(response), content_type="application/xml")


def _say(target: VoiceResponse, text: str, settings: TwilioVoiceSettings) -> None:
    target.say(text, voice=settings.voice, language=settings.language)


def menu(settings: TwilioVoiceSettings, callbacks: Callbacks, *, attempt: int = 1,
         retry: bool = False) -> VoiceResponse:
    """Greeting (first time only) and the options inside one <Gather> of keys or speech.

    Silence falls through to the <Redirect>, which asks for the next attempt: Twilio
    calls a <Gather>'s action only when something was entered.
    """
    response = VoiceResponse()
    if attempt == 1:
        _say(response, settings.greeting, settings)
    elif retry:
        _say(response, NOT_UNDERSTOOD, settings)
    longest = max(len(option.digits) for option in settings.menu)
    hints = [word for option in settings.menu for word in (option.group, *option.speech)]
    gather = response.gather(
        input="dtmf speech", action=callbacks("gather", attempt=attempt), method="POST",
        timeout=settings.gather_timeout_seconds, speech_timeout="auto",
        num_digits=longest if longest == 1 else None, language=settings.language,
        hints=", ".join(dict.fromkeys(hints)))
    for option in settings.menu:
        gather.say(option.say, voice=settings.voice, language=settings.language)
    response.redirect(callbacks("gather", attempt=attempt), method="POST")
    return response


def connect(settings: TwilioVoiceSettings, callbacks: Callbacks, *, group: str,
            option: MenuOption | None, phones: Sequence[tuple[str, str]]) -> VoiceResponse:
    """Put the caller through to `group`: wait in its queue, or ring its agents' phones.

    `phones` are (agent id, E.164) of the group's agents; with none to ring, voicemail.
    """
    if settings.connect_for(option) == "dial":
        if not phones:
            return voicemail(settings, callbacks)
        response = VoiceResponse()
        dial = response.dial(action=callbacks("dial", group=group), method="POST",
                             timeout=settings.dial_timeout_seconds)
        for agent, number in phones:
            # the agent's leg reports "answered" with ParentCallSid = the customer's call
            dial.number(number, status_callback=callbacks("agent", agent=agent),
                        status_callback_event="answered", status_callback_method="POST")
        return response
    response = VoiceResponse()
    response.enqueue(group, action=callbacks("queue", group=group), method="POST",
                     wait_url=callbacks("wait", group=group), wait_url_method="POST")
    return response


def hold(settings: TwilioVoiceSettings, *, waited: float | None) -> VoiceResponse:
    """The queue's wait music: a message and a pause, or <Leave> once waited too long
    (the <Enqueue> action then offers voicemail)."""
    response = VoiceResponse()
    if waited is not None and waited >= settings.queue_timeout_seconds:
        response.leave()
        return response
    _say(response, settings.hold_message, settings)
    response.pause(length=10)
    return response


def voicemail(settings: TwilioVoiceSettings, callbacks: Callbacks) -> VoiceResponse:
    """Prompt, beep, record (bounded: Twilio transcribes 2-120 s only), then hang up."""
    response = VoiceResponse()
    _say(response, settings.voicemail_prompt, settings)
    response.record(
        action=callbacks("recorded"), method="POST", max_length=settings.voicemail_max_seconds,
        play_beep=True, timeout=5, finish_on_key="#",
        recording_status_callback=callbacks("recording"),
        recording_status_callback_method="POST", recording_status_callback_event="completed",
        transcribe=settings.transcribe or None,
        transcribe_callback=callbacks("transcription") if settings.transcribe else None)
    response.hangup()  # reached only when nothing was recorded
    return response


def goodbye(settings: TwilioVoiceSettings) -> VoiceResponse:
    response = VoiceResponse()
    _say(response, settings.goodbye, settings)
    response.hangup()
    return response


def hangup() -> VoiceResponse:
    response = VoiceResponse()
    response.hangup()
    return response
