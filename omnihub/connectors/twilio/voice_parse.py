"""Pure parsing of Twilio Voice webhooks into the schema: no I/O, no clock.

A call is one inbound message (external id = CallSid) whose single part is a `call`
part; every later callback about that call (how it ended, who answered, the voicemail,
its transcript) is an `edit` update carrying only what that callback knows — the store
merges a call part field by field (store/updates.py), so callbacks may arrive in any
order and a replayed one changes nothing.
Parameters: https://www.twilio.com/docs/usage/webhooks/voice-webhooks
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from omnihub.connectors.errors import BadPayload
from omnihub.normalizer.addresses import InvalidAddress, normalize_phone
from omnihub.normalizer.schema import (
    CallPart,
    Identity,
    InboundMessage,
    InboundUpdate,
    Sender,
)

__all__ = [
    "ANONYMOUS_KIND",
    "CHANNEL_TYPE",
    "IDENTITY_KIND",
    "call_message",
    "call_sid",
    "call_update",
    "caller_identity",
    "seconds",
]

CHANNEL_TYPE = "twilio_voice"
#: SMS, WhatsApp and calls share the "phone" address space: one person is one customer
IDENTITY_KIND = "phone"
#: a caller who hides their number: every such call is its own, unlinked customer
ANONYMOUS_KIND = "twilio_call"

Form = Mapping[str, str]


def required(form: Form, name: str) -> str:
    """A parameter Twilio always sends; its absence means the body is not Twilio's."""
    value = form.get(name, "").strip()
    if not value:
        raise BadPayload(f"missing form field {name!r}")
    return value


def call_sid(form: Form) -> str:
    sid = required(form, "CallSid")
    if not sid.startswith("CA") or len(sid) > 64:
        raise BadPayload(f"CallSid {sid[:40]!r} is not a Twilio call SID")
    return sid


def seconds(form: Form, name: str) -> float | None:
    """A duration parameter in seconds; None when absent or not a number."""
    value = form.get(name, "").strip()
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number >= 0 else None


def caller_identity(form: Form) -> Identity:
    """The caller as a phone identity in E.164; a withheld number (Twilio sends
    "Anonymous", "Restricted" or a placeholder) becomes an identity of this call alone."""
    raw = form.get("From", "").strip()
    try:
        return Identity(kind=IDENTITY_KIND, address=normalize_phone(raw), verified=True)
    except InvalidAddress:
        return Identity(kind=ANONYMOUS_KIND, address=call_sid(form), verified=False)


def call_message(channel_id: str, form: Form, *, received_at: datetime,
                 raw: bytes) -> InboundMessage:
    """The incoming-call webhook as the customer's new message."""
    sid = call_sid(form)
    identity = caller_identity(form)
    name = form.get("CallerName", "").strip() or None
    return InboundMessage(
        channel_id=channel_id, channel_type=CHANNEL_TYPE, external_id=sid,
        sender=Sender(identities=[identity], display_name=name),
        parts=[CallPart(direction="in", status=form.get("CallStatus") or "ringing")],
        sent_at=received_at, raw=raw, raw_content_type="application/x-www-form-urlencoded",
    )


def call_update(channel_id: str, sid: str, at: datetime, **fields: object) -> InboundUpdate:
    """An edit of call `sid` that sets only `fields` (None values leave a field as stored)."""
    return InboundUpdate(kind="edit", channel_id=channel_id, external_id=sid,
                         parts=[CallPart(direction="in", **fields)], at=at)  # type: ignore[arg-type]
