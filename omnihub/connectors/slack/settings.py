"""Settings of a Slack channel (`type: slack`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from omnihub.connectors.base import ChannelSettings


class SlackSettings(ChannelSettings):
    type: Literal["slack"] = "slack"
    #: the app's bot token (xoxb-…), e.g. ${SLACK_BOT_TOKEN}
    bot_token: str = Field(pattern=r"^xox[a-z]-[A-Za-z0-9-]+$", repr=False)
    #: the app's signing secret, which signs every Events API request
    signing_secret: str = Field(min_length=16, repr=False)
    #: slack-sdk's base_url: the Web API root
    api_base_url: str = Field(default="https://slack.com/api/", pattern=r"^https?://")
    #: the bot's own user id (U…): its messages are never taken for a customer's
    bot_user_id: str | None = None
    #: timeout of one Web API call, in seconds
    timeout_seconds: int = Field(default=15, ge=1, le=120)
