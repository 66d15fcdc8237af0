"""Settings of a Telegram channel (`type: telegram`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from omnihub.connectors.base import ChannelSettings


class TelegramSettings(ChannelSettings):
    type: Literal["telegram"] = "telegram"
    #: the bot token from @BotFather, e.g. ${TELEGRAM_TOKEN}
    token: str = Field(pattern=r"^[0-9]+:[A-Za-z0-9_-]+$", repr=False)
    #: sent back by Telegram in X-Telegram-Bot-Api-Secret-Token (Telegram allows A-Z a-z
    #: 0-9 _ -, up to 256 characters; we ask for at least 16)
    secret_token: str = Field(min_length=16, max_length=256, pattern=r"^[A-Za-z0-9_-]+$",
                              repr=False)
    #: the Bot API server; a self-hosted one (telegram-bot-api) works the same
    api_base_url: str = Field(default="https://api.telegram.org", pattern=r"^https?://")
    #: call setWebhook at start, pointing Telegram at <public_url>/webhooks/<id>
    set_webhook: bool = False
    #: timeout of one Bot API call, in seconds
    timeout_seconds: float = Field(default=15.0, gt=0, le=120)
    #: Telegram's flood limits: https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this
    max_per_second: float = Field(default=30.0, ge=1)
    max_per_chat_per_second: float = Field(default=1.0, ge=1)
    max_per_group_per_minute: float = Field(default=20.0, ge=1)

    @field_validator("api_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")
