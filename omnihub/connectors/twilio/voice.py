"""Phone calls through Twilio Voice (`type: twilio_voice`): an IVR, then a queue, the
agents' phones or voicemail — and every call in the customer's history.

Twilio calls `POST /webhooks/<id>` for the incoming call and `…?event=<name>` for each
later step (the menu choice, the queue, the dial outcome, the recording, the transcript,
the call status). Every request is signature-checked against its public URL first.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from multidict import MultiDictProxy

from omnihub.connectors.base import (
    Connector,
    ConnectorContext,
    GroupChoice,
    OutboundMessage,
    ParsedWebhook,
    SendReceipt,
    WebhookRequest,
)
from omnihub.connectors.errors import (
    BadPayload,
    NotSupported,
    PermanentSendError,
    ProviderUnavailable,
    UnsupportedEvent,
)
from omnihub.connectors.twilio import voice_twiml as twiml
from omnihub.connectors.twilio.client import (
    MediaUnavailable,
    TwilioClient,
    TwilioRateLimited,
    TwilioUnreachable,
    send_error,
)
from omnihub.connectors.twilio.parse_messaging import parse_messaging
from omnihub.connectors.twilio.signature import verified_form
from omnihub.connectors.twilio.voice_parse import (
    IDENTITY_KIND,
    call_message,
    call_sid,
    call_update,
    required,
    seconds,
)
from omnihub.connectors.twilio.voice_settings import MenuOption, TwilioVoiceSettings
from omnihub.normalizer.media import MediaTooLarge
from omnihub.normalizer.schema import MediaRef, TextPart
from omnihub.router.calendar import is_open
from omnihub.router.config import RoutingConfig

__all__ = ["TwilioVoiceConnector"]

log = logging.getLogger("omnihub.connectors.twilio.voice")

Form = MultiDictProxy[str]
Handler = Callable[["TwilioVoiceConnector", WebhookRequest, Form], Awaitable[ParsedWebhook]]

#: QueueResult values after which the caller is gone or was served
#: https://www.twilio.com/docs/voice/twiml/enqueue#attributes-action
QUEUE_SERVED = {"bridged", "bridging-in-process"}
#: DialCallStatus values that mean an agent took the call
DIAL_ANSWERED = {"completed", "answered"}
SMS_LIMIT = 1600  # characters of one Twilio message


def utcnow() -> datetime:
    return datetime.now(UTC)


def _answer(response: Any) -> ParsedWebhook:
    return ParsedWebhook(response=twiml.twiml_response(response))


def _chosen(response: Any, call: str, group: str, reason: str) -> ParsedWebhook:
    """Answer, and route the call's conversation to the group the caller reached."""
    return ParsedWebhook(response=twiml.twiml_response(response),
                         choices=[GroupChoice(external_id=call, group=group, reason=reason)])


class TwilioVoiceConnector(Connector):
    type: ClassVar[str] = "twilio_voice"
    settings_model = TwilioVoiceSettings
    identity_kind: ClassVar[str] = IDENTITY_KIND
    settings: TwilioVoiceSettings

    def __init__(self, settings: TwilioVoiceSettings, context: ConnectorContext,
                 *, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(settings, context)
        self.clock = clock
        self._client: TwilioClient | None = None
        self.callbacks = twiml.Callbacks(
            f"{context.public_url.rstrip('/')}/webhooks/{settings.id}")

    @classmethod
    def check_references(cls, settings: TwilioVoiceSettings,
                         routing: RoutingConfig) -> list[tuple[tuple[str | int, ...], str]]:
        """Menu groups and agents with phones must exist in routing.yaml (check-config)."""
        groups, agents = sorted(routing.groups), sorted(a.id for a in routing.agents)
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for index, option in enumerate(settings.menu):
            if option.group not in routing.groups:
                problems.append((("menu", index, "group"), _unknown("group", option.group,
                                                                     groups)))
        if settings.default_group is not None and settings.default_group not in routing.groups:
            problems.append((("default_group",), _unknown("group", settings.default_group,
                                                          groups)))
        for agent in settings.agent_phones:
            if agent not in agents:
                problems.append((("agent_phones", agent), _unknown("agent", agent, agents)))
        return problems

    async def start(self) -> None:
        state = self.context.extra.get("routing")
        config = getattr(state, "config", None)
        if config is not None:
            for _, problem in self.check_references(self.settings, config):
                log.warning("channel %s: %s (run omnihub check-config)", self.channel_id,
                            problem)

    @property
    def client(self) -> TwilioClient:
        """The REST client, made on first use: most callbacks never need it."""
        if self._client is None:
            self._client = TwilioClient(self.settings, self.context.http)
        return self._client

    # ------------------------------------------------------------------ webhooks

    async def parse_webhook(self, request: WebhookRequest) -> ParsedWebhook:
        form = verified_form(request, auth_token=self.settings.auth_token,
                             signing_key=self.settings.webhook_signing_key)
        event = request.query.get("event", "incoming")
        handler = HANDLERS.get(event)
        if handler is None:
            raise UnsupportedEvent(f"event {event[:40]}")
        return await handler(self, request, form)

    async def _incoming(self, request: WebhookRequest, form: Form) -> ParsedWebhook:
        message = call_message(self.channel_id, form, received_at=request.received_at,
                               raw=request.body)
        if self.settings.menu:
            response = twiml.menu(self.settings, self.callbacks)
        else:
            response = self._connect(self.settings.default_group, None)
        return ParsedWebhook(messages=[message], response=twiml.twiml_response(response))

    async def _gather(self, request: WebhookRequest, form: Form) -> ParsedWebhook:
        attempt = _int(request.query.get("attempt"), default=1)
        digits = form.get("Digits", "").strip()
        speech = form.get("SpeechResult", "").strip()
        sid = call_sid(form)
        option = self.settings.option_for(digits, speech)
        if option is not None:
            how = f"pressed {digits}" if digits else f"said {speech[:60]!r}"
            return _chosen(self._connect(option.group, option), sid, option.group,
                           f"caller {how} in the phone menu")
        if attempt < self.settings.menu_attempts and self.settings.menu:
            return _answer(twiml.menu(self.settings, self.callbacks, attempt=attempt + 1,
                                      retry=bool(digits or speech)))
        default = self.settings.default_group
        if default is None:
            return _answer(self._connect(None, None))
        return _chosen(self._connect(default, None), sid, default,
                       "no choice in the phone menu: its default group")

    def _connect(self, group: str | None, option: MenuOption | None) -> Any:
        """Through to the group inside its business hours; voicemail otherwise."""
        if group is None or not self.is_open(group):
            return twiml.voicemail(self.settings, self.callbacks)
        return twiml.connect(self.settings, self.callbacks, group=group, option=option,
                             phones=self.phones_of(group))

    async def _wait(self, request: WebhookRequest, form: Form) -> ParsedWebhook:
        return _answer(twiml.hold(self.settings, waited=seconds(form, "QueueTime")))

    async def _queue(self, request: WebhookRequest, form: Form) -> ParsedWebhook:
        sid = call_sid(form)
        result = form.get("QueueResult", "")
        if result in QUEUE_SERVED:
            return ParsedWebhook(
                updates=[call_update(self.channel_id, sid, request.received_at,
                                     answered_by="agent")],
                response=twiml.twiml_response(twiml.hangup()))
        if result == "hangup":  # the caller gave up in the queue
            return _answer(twiml.hangup())
        return _answer(twiml.voicemail(self.settings, self.callbacks))

    async def _dial(self, request: WebhookRequest, form: Form) -> ParsedWebhook:
        call_sid(form)
        if form.get("DialCallStatus", "") in DIAL_ANSWERED:
            return _answer(twiml.hangup())  # talked; who answered came with event=agent
        return _answer(twiml.voicemail(self.settings, self.callbacks))

    async def _agent(self, request: WebhookRequest, form: Form) -> ParsedWebhook:
        """The agent's leg of a <Dial> was answered: that agent took the customer's call."""
        parent = required(form, "ParentCallSid")
        agent = request.query.get("agent", "").strip()
        if not agent or form.get("CallStatus") != "in-progress":
            raise UnsupportedEvent(f"agent leg {form.get('CallStatus', '')}"[:64])
        return ParsedWebhook(updates=[call_update(self.channel_id, parent, request.received_at,
                                                  answered_by=f"agent:{agent}")])

    async def _recorded(self, request: WebhookRequest, form: Form) -> ParsedWebhook:
        sid = call_sid(form)
        return ParsedWebhook(
            updates=[call_update(self.channel_id, sid, request.received_at,
                                 answered_by="voicemail")],
            response=twiml.twiml_response(twiml.goodbye(self.settings)))

    async def _recording(self, request: WebhookRequest, form: Form) -> ParsedWebhook:
        sid = call_sid(form)
        status = form.get("RecordingStatus", "")
        if status != "completed":
            raise UnsupportedEvent(f"recording {status}"[:64])
        url = required(form, "RecordingUrl")
        recording = await self._download(url, required(form, "RecordingSid"))
        if recording is None:
            raise UnsupportedEvent("recording not downloadable")
        return ParsedWebhook(updates=[call_update(
            self.channel_id, sid, request.received_at, answered_by="voicemail",
            recording=recording)])

    async def _transcription(self, request: WebhookRequest, form: Form) -> ParsedWebhook:
        sid = call_sid(form)
        status = form.get("TranscriptionStatus", "")
        text = form.get("TranscriptionText", "").strip()
        if status != "completed" or not text:
            raise UnsupportedEvent(f"transcription {status}"[:64])
        return ParsedWebhook(updates=[call_update(self.channel_id, sid, request.received_at,
                                                  transcript=text)])

    async def _status(self, request: WebhookRequest, form: Form) -> ParsedWebhook:
        """The number's status callback: how the call ended and how long it lasted.

        It also carries the call itself, stored unless it already is: a call whose incoming
        webhook never got through (the hub was down, Twilio played its error) still shows
        up in the customer's history as a missed call.
        """
        sid = call_sid(form)
        status = required(form, "CallStatus")
        update = call_update(self.channel_id, sid, request.received_at, status=status,
                             duration=seconds(form, "CallDuration"))
        if form.get("Direction") != "inbound":
            return ParsedWebhook(updates=[update])
        message = call_message(self.channel_id, form, received_at=request.received_at,
                               raw=request.body)
        return ParsedWebhook(messages=[message], updates=[update])

    async def _sms_status(self, request: WebhookRequest, form: Form) -> ParsedWebhook:
        """A delivery receipt of an agent's reply sent as SMS (`sms_reply: true`)."""
        event = parse_messaging("twilio_sms", self.channel_id, form)
        if not event.statuses:
            raise UnsupportedEvent(event.ignored or "not an SMS status callback")
        return ParsedWebhook(statuses=event.statuses)

    async def _download(self, url: str, recording_sid: str) -> MediaRef | None:
        """The voicemail as MP3 in the media store; a temporary failure answers 503 so
        that Twilio retries the callback."""
        try:
            return await self.client.download_media(
                url + ".mp3", self.context.media, mime="audio/mpeg", name=f"{recording_sid}.mp3")
        except (TwilioUnreachable, TwilioRateLimited) as exc:
            raise ProviderUnavailable(f"recording download failed: {exc}") from None
        except (MediaUnavailable, MediaTooLarge) as exc:
            log.warning("channel %s: recording %s not stored: %s", self.channel_id,
                        recording_sid, exc)
            return None

    # ------------------------------------------------------------------ hours, agents

    def is_open(self, group: str) -> bool:
        """Whether `group` keeps business hours now, by routing.yaml's calendars in force
        (no routing.yaml: always open)."""
        state = self.context.extra.get("routing")
        router = getattr(state, "router", None)
        if router is None:
            return True
        return is_open(router.calendar_for(group), self.clock())

    def phones_of(self, group: str) -> list[tuple[str, str]]:
        """(agent id, number) of the group's agents that have a number in `agent_phones`."""
        state = self.context.extra.get("routing")
        config = getattr(state, "config", None)
        phones = self.settings.agent_phones
        if config is None or group not in config.groups:
            return []
        return [(agent, phones[agent]) for agent in config.members(group) if agent in phones]

    # ------------------------------------------------------------------ sending

    async def send(self, message: OutboundMessage) -> SendReceipt:
        """A call cannot carry an agent's written answer: it goes out as an SMS from the
        channel's number when `sms_reply` is on, and is refused otherwise."""
        if not self.settings.sms_reply:
            raise NotSupported("a phone channel cannot deliver written replies; call the "
                               "customer back, or set sms_reply: true to send them by SMS")
        text = "\n".join(p.text for p in message.parts if isinstance(p, TextPart)).strip()
        if not text:
            raise PermanentSendError("only text can go out by SMS from a phone channel")
        if len(text) > SMS_LIMIT:
            raise PermanentSendError(f"text of {len(text)} characters is over the "
                                     f"{SMS_LIMIT}-character SMS limit")
        try:
            sent = await self.client.create_message(
                to=message.recipient.address, from_=self.settings.from_, body=text,
                status_callback=self.callbacks("sms_status"))
        except Exception as exc:  # mapped to temporary/permanent by the client module
            raise send_error(exc) from None
        return SendReceipt(external_id=getattr(sent, "sid", None))


def _unknown(what: str, name: str, known: list[str]) -> str:
    return f"unknown {what} {name!r} in routing.yaml (known: {', '.join(known) or 'none'})"


def _int(value: str | None, *, default: int) -> int:
    try:
        return max(1, int(value or default))
    except ValueError:
        raise BadPayload(f"not a number: {value!r}") from None


HANDLERS: dict[str, Handler] = {
    "incoming": TwilioVoiceConnector._incoming,
    "gather": TwilioVoiceConnector._gather,
    "wait": TwilioVoiceConnector._wait,
    "queue": TwilioVoiceConnector._queue,
    "dial": TwilioVoiceConnector._dial,
    "agent": TwilioVoiceConnector._agent,
    "recorded": TwilioVoiceConnector._recorded,
    "recording": TwilioVoiceConnector._recording,
    "transcription": TwilioVoiceConnector._transcription,
    "status": TwilioVoiceConnector._status,
    "sms_status": TwilioVoiceConnector._sms_status,
}
