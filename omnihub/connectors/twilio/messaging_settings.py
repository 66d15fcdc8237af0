"""Settings of an SMS (`type: twilio_sms`) or WhatsApp (`type: twilio_whatsapp`) channel."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from omnihub.connectors.twilio.settings import TwilioSettings
from omnihub.normalizer.addresses import InvalidAddress, normalize_phone

__all__ = ["MessagingSettings", "TwilioSmsSettings", "TwilioWhatsappSettings"]

#: Twilio's Body limit for every channel: 1,600 characters, where characters outside
#: GSM-7 (emoji) count more than once (https://www.twilio.com/docs/api/errors/21617)
TWILIO_BODY_LIMIT = 1600


class MessagingSettings(TwilioSettings):
    """What SMS and WhatsApp channels share beyond the account."""

    #: longer texts are cut into several messages of at most this many UTF-16 units
    max_text_length: int = Field(default=TWILIO_BODY_LIMIT, ge=160, le=TWILIO_BODY_LIMIT)
    #: ask Twilio for delivery receipts at <public_url>/webhooks/<id> (StatusCallback)
    status_callbacks: bool = True
    #: how long a signed link to an attachment stays valid for Twilio to fetch it
    media_link_seconds: int = Field(default=24 * 3600, ge=60, le=7 * 24 * 3600)


class TwilioSmsSettings(MessagingSettings):
    type: Literal["twilio_sms"] = "twilio_sms"

    @field_validator("from_")
    @classmethod
    def _sender(cls, value: str) -> str:
        """An E.164 number, a short code or an alphanumeric sender id: kept as written."""
        if value.lower().startswith("whatsapp:"):
            raise ValueError("a whatsapp: sender belongs to a `twilio_whatsapp` channel")
        return value.strip()


class TwilioWhatsappSettings(MessagingSettings):
    type: Literal["twilio_whatsapp"] = "twilio_whatsapp"

    @field_validator("from_")
    @classmethod
    def _whatsapp_sender(cls, value: str) -> str:
        """`whatsapp:+E164`; a bare number is taken as the WhatsApp sender of that number."""
        try:
            return "whatsapp:" + normalize_phone(value)
        except InvalidAddress as exc:
            raise ValueError(f"`from` must be a WhatsApp sender (whatsapp:+<E.164>): {exc}") from None
