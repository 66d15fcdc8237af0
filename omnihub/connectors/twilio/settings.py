"""Settings every Twilio channel shares; each channel type subclasses them beside its
connector (voice in voice_settings.py, SMS/WhatsApp beside theirs)."""

from __future__ import annotations

from pydantic import ConfigDict, Field, field_validator

from omnihub.connectors.base import ChannelSettings


class TwilioSettings(ChannelSettings):
    """One Twilio account and the sender it speaks as.

    Webhook and status-callback URLs are built from the hub's `server.public_url`, and
    signatures are validated against that same public URL: Twilio signs the URL it called.
    """

    # `from` is a Python keyword: the field is `from_`, written `from:` in hub.yaml
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    #: the account SID (AC + 32 hex digits), e.g. ${TWILIO_ACCOUNT_SID}
    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    #: the account's Auth Token: REST calls and (by default) webhook signatures
    auth_token: str = Field(min_length=16, repr=False)
    #: the sender: an E.164 number (+14155550100), or `whatsapp:+…` for WhatsApp
    from_: str = Field(alias="from", min_length=2, max_length=64)
    #: the REST API root; requests keep Twilio's paths (/2010-04-01/Accounts/<sid>/…)
    api_base_url: str = Field(default="https://api.twilio.com", pattern=r"^https?://")
    #: secret of a Twilio webhook SharedKey: checks requests that carry
    #: X-Twilio-Webhooks-Signature-Settings (HMAC-SHA256); the Auth Token is used otherwise
    webhook_signing_key: str | None = Field(default=None, min_length=16, repr=False)
    #: timeout of one REST call or media download, in seconds
    timeout_seconds: float = Field(default=15.0, gt=0, le=120)

    @field_validator("api_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")
