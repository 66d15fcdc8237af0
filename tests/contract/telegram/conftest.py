"""Telegram contract fixtures: a local Bot API stand-in, a connector on it, a whole hub."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tg_support import SECRET, TOKEN, FakeBotApi, TelegramHub

from omnihub.connectors.base import ConnectorContext
from omnihub.connectors.telegram.connector import TelegramConnector
from omnihub.connectors.telegram.settings import TelegramSettings
from omnihub.normalizer.media import MediaStore


@pytest.fixture
async def bot_api(serve_stand_in: Callable[..., Any]) -> FakeBotApi:
    return await serve_stand_in(FakeBotApi())


@pytest.fixture
def make_connector(bot_api: FakeBotApi, http: aiohttp.ClientSession,
                   tmp_path: Path) -> Callable[..., TelegramConnector]:
    """A connector on the stand-in, outside any hub (for send tests)."""

    def make(**settings: Any) -> TelegramConnector:
        config = TelegramSettings(**{"id": "tg", "token": TOKEN, "secret_token": SECRET,
                                     "api_base_url": bot_api.url,
                                     "max_per_chat_per_second": 100, **settings})
        context = ConnectorContext(http=http, public_url="https://hub.example.test",
                                   media=MediaStore(tmp_path / "media"))
        return TelegramConnector(config, context)

    return make


@pytest.fixture
async def make_telegram_hub(start_hub: Callable[..., Any], make_store_url: Callable[..., Any],
                            bot_api: FakeBotApi) -> Callable[..., Any]:
    async def make(**channel: Any) -> TelegramHub:
        client = await start_hub({
            "store": {"url": await make_store_url("sqlite")},
            "server": {"public_url": "https://hub.example.test"},
            "channels": [{"id": "tg", "type": "telegram", "token": TOKEN, "secret_token": SECRET,
                          "api_base_url": bot_api.url, "max_per_chat_per_second": 100,
                          **channel}],
        })
        return TelegramHub(client, client.app)

    return make


@pytest.fixture
async def telegram_hub(make_telegram_hub: Callable[..., Any]) -> TelegramHub:
    return await make_telegram_hub()
