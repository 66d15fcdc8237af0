"""The browser's language, sent in `hello`, reaches the router's `language:` rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

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


@pytest.mark.parametrize(("language", "group"), [("zh-CN", "chinese"), ("en-US", "general"),
                                                 (None, "general")])
async def test_hello_language_routes_the_conversation(make_chat: Any, make_store_url: Any,
                                                      tmp_path: Path, language: str | None,
                                                      group: str) -> None:
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING, encoding="utf-8")
    chat = await make_chat(await make_store_url("sqlite"), routing=routing)
    widget = await chat.widget()
    hello: dict[str, Any] = {"type": "hello"}
    if language is not None:
        hello["language"] = language
    await widget.send(hello)
    await widget.recv("welcome")
    ack = await widget.say("你好 / hello", "c-00000001")
    message = await chat.hub.store.get_message(ack["id"])
    assert message is not None
    conversation = await chat.hub.store.get_conversation(message.conversation_id)
    assert conversation is not None and conversation.group == group
