"""Settings of an API channel (`type: api`)."""

from __future__ import annotations

from typing import Literal

from pydantic import AnyHttpUrl, Field

from omnihub.connectors.base import ChannelSettings


class ApiChannelSettings(ChannelSettings):
    type: Literal["api"] = "api"
    #: shared with the shop; signs both directions (min. 16 characters)
    secret: str = Field(min_length=16)
    #: where agent replies are POSTed, signed with the same secret
    reply_url: AnyHttpUrl | None = None
    #: accepted clock skew of the signature timestamp, in seconds
    tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    #: timeout of one reply POST, in seconds
    reply_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
