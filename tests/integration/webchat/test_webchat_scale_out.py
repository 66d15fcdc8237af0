"""Two hub processes behind a load balancer (PostgreSQL + Redis Streams): a widget on one
gets the replies that agents send through the other."""

from __future__ import annotations

import uuid

import pytest

from .conftest import ChatHub

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


async def test_a_reply_reaches_a_socket_held_by_another_process(
        make_chat, make_store_url, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    store_url = await make_store_url("postgresql")
    bus = {"url": redis_url, "stream_prefix": f"t{uuid.uuid4().hex[:10]}"}
    first: ChatHub = await make_chat(store_url, bus)
    second: ChatHub = await make_chat(store_url, bus)
    widget = await second.widget()
    await widget.hello()
    ack = await widget.say("anyone there?", "c-00000001")
    conversation = ack["message"]["conversation_id"]
    for n in range(3):  # whichever process runs the delivery, the socket on `second` gets it
        reply = await first.reply(conversation, f"yes, agent here ({n})", await first.agent())
        pushed = await widget.recv("message", timeout=10)
        assert pushed["message"]["id"] == reply["id"]
    # and the visitor's other tab, open on the first process, sees the visitor's messages
    tab = await first.widget()
    await tab.hello(token=widget.welcome["token"])
    sent = await widget.say("thanks!", "c-00000002")
    assert (await tab.recv("message", timeout=10))["message"]["id"] == sent["id"]
