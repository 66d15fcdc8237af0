"""The sender's Telegram `language_code` reaches the router, so `language:` rules work on
real traffic."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from tg_support import SECRET, TOKEN, FakeBotApi, TelegramHub, load

from omnihub.connectors.telegram.parse import parse_update

ROUTING = """\
groups:
  chinese: {agents: [li]}
  general: {agents: [li]}
agents:
  - {id: li, role: agent}
rules:
  - name: chinese
    when: {language: zh}
    then: {group: chinese}
  - name: everyone-else
    then: {group: general}
"""


def text_update(language_code: str | None) -> dict[str, Any]:
    update = copy.deepcopy(load("message__text"))
    if language_code is None:
        del update["message"]["from"]["language_code"]
    else:
        update["message"]["from"]["language_code"] = language_code
    return update


# (Telegram's language_code, the message's language)
LANGUAGES = [
    pytest.param("zh-hans", "zh", id="script subtag dropped"),
    pytest.param("pt-BR", "pt", id="region dropped, lower-cased"),
    pytest.param("de", "de", id="plain"),
    pytest.param(None, None, id="not sent"),
    pytest.param("??", None, id="not a language tag"),
]


@pytest.mark.parametrize(("code", "language"), LANGUAGES)
def test_parse_takes_the_senders_language(code: str | None, language: str | None) -> None:
    [pending] = parse_update("tg", text_update(code)).messages
    assert pending.item.language == language


# (Telegram's language_code, the group routed to)
ROUTED = [
    pytest.param("zh-hans", "chinese", id="zh-hans matches `language: zh`"),
    pytest.param("en", "general", id="another language falls through"),
    pytest.param(None, "general", id="unknown language falls through"),
]


@pytest.mark.parametrize(("code", "group"), ROUTED)
async def test_a_language_rule_routes_telegram_traffic(
        code: str | None, group: str, start_hub: Any, make_store_url: Any, bot_api: FakeBotApi,
        tmp_path: Path) -> None:
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING, encoding="utf-8")
    client = await start_hub({
        "store": {"url": await make_store_url("sqlite")},
        "server": {"public_url": "https://hub.example.test"},
        "routing": str(routing),
        "channels": [{"id": "tg", "type": "telegram", "token": TOKEN, "secret_token": SECRET,
                      "api_base_url": bot_api.url}],
    })
    telegram = TelegramHub(client, client.app)
    resp = await telegram.post(text_update(code))
    assert resp.status == 200, await resp.text()
    message = await telegram.hub.store.get_message((await resp.json())["messages"][0]["id"])
    assert message is not None
    conversation = await telegram.hub.store.get_conversation(message.conversation_id)
    assert conversation is not None and conversation.group == group
