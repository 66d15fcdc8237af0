"""Slack contract fixtures: a local Web API stand-in, a connector on it, a whole hub."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from slack_support import BOT_TOKEN, BOT_USER_ID, SIGNING_SECRET, FakeSlackApi, SlackHub

from omnihub.connectors.base import ConnectorContext
from omnihub.connectors.slack.connector import SlackConnector
from omnihub.connectors.slack.settings import SlackSettings
from omnihub.normalizer.media import MediaStore


@pytest.fixture
async def slack_api(serve_stand_in: Callable[..., Any]) -> FakeSlackApi:
    return await serve_stand_in(FakeSlackApi())


@pytest.fixture
def make_connector(slack_api: FakeSlackApi, http: aiohttp.ClientSession,
                   tmp_path: Path) -> Callable[..., SlackConnector]:
    """A connector on the stand-in, outside any hub (for send tests)."""

    def make(**settings: Any) -> SlackConnector:
        config = SlackSettings(**{"id": "sl", "bot_token": BOT_TOKEN,
                                  "signing_secret": SIGNING_SECRET,
                                  "api_base_url": slack_api.api_url, **settings})
        context = ConnectorContext(http=http, public_url="https://hub.example.test",
                                   media=MediaStore(tmp_path / "media"))
        return SlackConnector(config, context)

    return make


@pytest.fixture
async def make_slack_hub(start_hub: Callable[..., Any], make_store_url: Callable[..., Any],
                         slack_api: FakeSlackApi) -> Callable[..., Any]:
    async def make(**channel: Any) -> SlackHub:
        client = await start_hub({
            "store": {"url": await make_store_url("sqlite")},
            "channels": [{"id": "sl", "type": "slack", "bot_token": BOT_TOKEN,
                          "signing_secret": SIGNING_SECRET, "api_base_url": slack_api.api_url,
                          "bot_user_id": BOT_USER_ID, **channel}],
        })
        return SlackHub(client, client.app, slack_api.url)

    return make


@pytest.fixture
async def slack_hub(make_slack_hub: Callable[..., Any]) -> SlackHub:
    return await make_slack_hub()
