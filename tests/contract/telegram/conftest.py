"""Telegram contract fixtures: a local Bot API stand-in, a connector on it, a whole hub."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from tg_support import SECRET, TOKEN, FakeBotApi, TelegramHub

from omnihub.connectors.base import ConnectorContext
from omnihub.connectors.telegram.connector import TelegramConnector
from omnihub.connectors.telegram.settings import TelegramSettings
from omnihub.hub.app import create_app
from omnihub.hub.settings import load_hub_settings
from omnihub.normalizer.media import MediaStore


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    fake = FakeBotApi()
    fake.server = TestServer(fake.app())
    await fake.server.start_server()
    yield fake
    await fake.server.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


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
async def make_telegram_hub(tmp_path: Path, make_store_url: Callable[..., Any],
                            bot_api: FakeBotApi) -> AsyncIterator[Callable[..., Any]]:
    clients: list[TestClient] = []

    async def make(**channel: Any) -> TelegramHub:
        config = {
            "data_dir": str(tmp_path / "data"),
            "store": {"url": await make_store_url("sqlite")},
            "bus": {"url": "memory://"},
            "server": {"public_url": "https://hub.example.test"},
            "channels": [{"id": "tg", "type": "telegram", "token": TOKEN, "secret_token": SECRET,
                          "api_base_url": bot_api.url, "max_per_chat_per_second": 100,
                          **channel}],
        }
        path = tmp_path / "hub.yaml"
        path.write_text(json.dumps(config))
        app = create_app(load_hub_settings(path))
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return TelegramHub(client, app)

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def telegram_hub(make_telegram_hub: Callable[..., Any]) -> TelegramHub:
    return await make_telegram_hub()
