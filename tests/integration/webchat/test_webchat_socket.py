"""The widget's WebSocket against a whole hub: durable acks, dedupe, replies, resume."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
import sqlalchemy as sa

from omnihub.connectors.webchat.visitor import sign_user
from omnihub.store import tables

from .conftest import SHOP_KEY, ChatHub


async def count_messages(chat: ChatHub) -> int:
    async with chat.hub.db.read() as conn:
        return (await conn.execute(sa.select(sa.func.count()).select_from(tables.messages))
                ).scalar_one()


async def until_status(chat: ChatHub, message_id: str, status: str) -> None:
    async with asyncio.timeout(5):
        while (await chat.hub.store.get_message(message_id)).status != status:  # type: ignore[union-attr]
            await asyncio.sleep(0.02)


def user(user_id: str = "u-42", email: str | None = "ann@example.com", **over: str) -> dict[str, str]:
    claim = {"user_id": user_id, "user_hash": sign_user(SHOP_KEY, user_id), "name": "Ann"}
    if email:
        claim.update(email=email, email_hash=sign_user(SHOP_KEY, email))
    return {**claim, **over}


async def test_a_message_is_acked_once_it_is_stored(chat: ChatHub) -> None:
    widget = await chat.widget()
    history = await widget.hello()
    assert history["messages"] == [] and widget.welcome["title"] == "Chat with us"
    ack = await widget.say("Hello 👋, where is order #1001?", "c-00000001")
    stored = await chat.hub.store.get_message(ack["id"])  # durable before the ack
    assert stored is not None and stored.parts[0].text == "Hello 👋, where is order #1001?"  # type: ignore[union-attr]
    assert stored.direction == "in" and stored.author == "customer"
    assert ack["message"]["id"] == ack["id"] and ack["duplicate"] is False
    customer = await chat.hub.store.get_customer(stored.customer_id)
    assert customer is not None
    assert [(i.kind, i.verified) for i in customer.identities] == [("webchat", False)]


async def test_a_resent_message_is_stored_once(chat: ChatHub) -> None:
    widget = await chat.widget()
    await widget.hello()
    first = await widget.say("hi", "c-00000001")
    again = await widget.say("hi", "c-00000001")
    assert (again["id"], again["duplicate"]) == (first["id"], True)
    # and after a reconnect with the same token, as the widget does with unsent messages
    other = await chat.widget()
    await other.hello(token=widget.welcome["token"])
    third = await other.say("hi", "c-00000001")
    assert (third["id"], third["duplicate"]) == (first["id"], True)
    assert await count_messages(chat) == 1


async def test_another_visitor_cannot_hit_a_message_by_reusing_its_client_id(chat: ChatHub) -> None:
    first = await chat.widget()
    await first.hello()
    mine = await first.say("mine", "c-00000001")
    second = await chat.widget()
    await second.hello()
    theirs = await second.say("theirs", "c-00000001")
    assert theirs["duplicate"] is False and theirs["id"] != mine["id"]


async def test_an_agent_reply_is_pushed_to_the_open_widget(chat: ChatHub) -> None:
    widget = await chat.widget()
    await widget.hello()
    ack = await widget.say("Is it in stock?", "c-00000001")
    reply = await chat.reply(ack["message"]["conversation_id"], "Yes, 3 left 📦", await chat.agent())
    pushed = await widget.recv("message")
    assert pushed["message"]["id"] == reply["id"]
    assert pushed["message"]["direction"] == "out" and pushed["message"]["author"] == "agent"
    assert pushed["message"]["parts"] == [{"kind": "text", "text": "Yes, 3 left 📦"}]
    await until_status(chat, reply["id"], "sent")


async def test_resume_after_a_reconnect_replays_exactly_what_was_missed(chat: ChatHub) -> None:
    agent = await chat.agent()
    widget = await chat.widget()
    await widget.hello()
    ack = await widget.say("one", "c-00000001")
    conversation = ack["message"]["conversation_id"]
    seen = await chat.reply(conversation, "first answer", agent)
    assert (await widget.recv("message"))["message"]["id"] == seen["id"]
    await widget.ws.close()
    missed = [await chat.reply(conversation, f"while away {n}", agent) for n in (1, 2)]
    for message in missed:
        await until_status(chat, message["id"], "sent")  # delivered to nobody: no socket open
    back = await chat.widget()
    history = await back.hello(token=widget.welcome["token"], last_id=seen["id"])
    assert [m["id"] for m in history["messages"]] == [m["id"] for m in missed]
    assert [m["parts"][0]["text"] for m in history["messages"]] == ["while away 1", "while away 2"]
    assert [f for f in await back.quiet() if f["type"] in ("message", "history")] == []
    # a fresh page (no last id) gets the recent history, oldest first
    fresh = await chat.widget()
    everything = await fresh.hello(token=widget.welcome["token"])
    assert [m["id"] for m in everything["messages"]] == [
        ack["id"], seen["id"], *[m["id"] for m in missed]]


async def test_private_notes_never_reach_the_widget(chat: ChatHub) -> None:
    agent = await chat.agent()
    widget = await chat.widget()
    await widget.hello()
    ack = await widget.say("hello", "c-00000001")
    conversation = ack["message"]["conversation_id"]
    resp = await chat.http.post(f"/api/v1/conversations/{conversation}/messages",
                                json={"text": "customer seems angry", "private": True},
                                headers=agent)
    assert resp.status == 201
    assert [f for f in await widget.quiet(0.5) if f["type"] == "message"] == []
    again = await chat.widget()
    history = await again.hello(token=widget.welcome["token"])
    assert [m["id"] for m in history["messages"]] == [ack["id"]]


async def test_read_receipts_both_ways(chat: ChatHub) -> None:
    agent = await chat.agent()
    widget = await chat.widget()
    await widget.hello()
    ack = await widget.say("hello", "c-00000001")
    conversation = ack["message"]["conversation_id"]
    reply = await chat.reply(conversation, "hi there", agent)
    await widget.recv("message")
    await until_status(chat, reply["id"], "sent")
    await widget.send({"type": "read", "message_id": reply["id"]})  # the visitor saw it
    await until_status(chat, reply["id"], "read")
    # the agent read the visitor's message: the widget learns it on its next resume
    resp = await chat.http.put(f"/api/v1/conversations/{conversation}/read",
                               json={"message_id": ack["id"]}, headers=agent)
    assert resp.status == 200, await resp.text()
    again = await chat.widget()
    history = await again.hello(token=widget.welcome["token"], last_id=reply["id"])
    assert history["read_up_to"] == ack["id"]


async def test_a_read_receipt_for_someone_elses_message_changes_nothing(chat: ChatHub) -> None:
    agent = await chat.agent()
    owner = await chat.widget()
    await owner.hello()
    ack = await owner.say("hello", "c-00000001")
    reply = await chat.reply(ack["message"]["conversation_id"], "hi", agent)
    await until_status(chat, reply["id"], "sent")
    stranger = await chat.widget()
    await stranger.hello()
    await stranger.send({"type": "read", "message_id": reply["id"]})
    assert (await stranger.recv("error"))["code"] == "unknown_message"
    assert (await chat.hub.store.get_message(reply["id"])).status == "sent"  # type: ignore[union-attr]


async def test_agent_edits_recalls_and_typing_appear_in_the_widget(chat: ChatHub) -> None:
    agent = await chat.agent()
    widget = await chat.widget()
    await widget.hello()
    ack = await widget.say("hello", "c-00000001")
    conversation = ack["message"]["conversation_id"]
    resp = await chat.http.post(f"/chat/web/conversations/{conversation}/typing",
                                json={"active": True}, headers=agent)
    assert resp.status == 200
    typing = await widget.recv("typing")
    assert (typing["author"], typing["active"]) == ("agent", True)
    reply = await chat.reply(conversation, "Your order shipped on Munday", agent)
    await widget.recv("message")
    await until_status(chat, reply["id"], "sent")
    resp = await chat.http.patch(f"/api/v1/messages/{reply['id']}",
                                 json={"text": "Your order shipped on Monday"}, headers=agent)
    assert resp.status == 200, await resp.text()
    edited = (await widget.recv("update"))["message"]
    assert edited["parts"][0]["text"] == "Your order shipped on Monday" and edited["edited_at"]
    resp = await chat.http.post(f"/api/v1/messages/{reply['id']}/recall", headers=agent)
    assert resp.status == 200, await resp.text()
    recalled = (await widget.recv("update"))["message"]
    assert recalled["recalled_at"] and recalled["parts"] == []


async def test_the_agent_typing_route_needs_an_agent_token(chat: ChatHub) -> None:
    resp = await chat.http.post("/chat/web/conversations/x/typing", json={"active": True})
    assert resp.status == 401
    resp = await chat.http.post("/chat/web/conversations/nope/typing", json={"active": True},
                                headers=await chat.agent())
    assert resp.status == 404


async def test_a_verified_user_links_across_browsers_and_an_anonymous_one_never_does(
        chat: ChatHub) -> None:
    laptop = await chat.widget()
    await laptop.hello(user=user())
    assert laptop.welcome["visitor"] == {"verified": True, "name": "Ann"}
    first = await laptop.say("from my laptop", "c-00000001")
    stored = await chat.hub.store.get_message(first["id"])
    assert stored is not None
    customer = await chat.hub.store.get_customer(stored.customer_id)
    assert customer is not None
    assert sorted((i.kind, i.address, i.verified) for i in customer.identities) == [
        ("email", "ann@example.com", True), ("webchat-user", "u-42", True)]
    phone = await chat.widget()  # another browser: a new anonymous token, the same user
    history = await phone.hello(user=user())
    assert [m["id"] for m in history["messages"]] == [first["id"]]
    stranger = await chat.widget()
    assert (await stranger.hello())["messages"] == []
    # the anonymous token of the laptop, without the shop's claim, is anonymous again
    anonymous = await chat.widget()
    assert (await anonymous.hello(token=laptop.welcome["token"]))["messages"] == []


@pytest.mark.parametrize("claim", [
    user(user_hash=sign_user(SHOP_KEY, "u-1")),  # someone else's hash
    user(user_hash=sign_user("guessed-key-0123456789", "u-42")),
    user(email_hash=sign_user(SHOP_KEY, "me@example.com")),  # own id, another's e-mail
], ids=["other-users-hash", "wrong-key", "foreign-email"])
async def test_a_forged_identity_is_refused_and_the_socket_closed(chat: ChatHub, claim) -> None:  # type: ignore[no-untyped-def]
    widget = await chat.widget()
    await widget.send({"type": "hello", "user": claim})
    error = await widget.recv("error")
    assert error["code"] == "identity_refused"
    closing = await widget.ws.receive()
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert widget.ws.close_code == 4403
    assert await count_messages(chat) == 0


async def test_a_bad_token_closes_the_socket_with_4401(chat: ChatHub) -> None:
    widget = await chat.widget()
    await widget.send({"type": "hello", "token": "wc1.eyJ2IjoieCJ9.AAAA"})
    assert (await widget.recv("error"))["code"] == "invalid_token"
    await widget.ws.receive()
    assert widget.ws.close_code == 4401


async def test_bad_frames_get_error_frames_and_the_socket_lives_on(chat: ChatHub) -> None:
    widget = await chat.widget()
    await widget.ws.send_str("{not json")
    assert (await widget.recv())["code"] == "bad_json"
    await widget.ws.send_bytes(b"\x00\x01")
    assert (await widget.recv())["code"] == "bad_frame"
    await widget.send({"type": "message", "client_id": "c-00000001", "text": "early"})
    assert (await widget.recv())["code"] == "hello_required"
    await widget.hello()
    await widget.send({"type": "launch_missiles"})
    assert (await widget.recv())["code"] == "bad_frame"
    await widget.send({"type": "ping"})
    assert (await widget.recv())["type"] == "pong"
    assert (await widget.say("still here", "c-00000001"))["duplicate"] is False


async def test_pages_of_unknown_origins_may_not_connect(make_chat, make_store_url) -> None:  # type: ignore[no-untyped-def]
    chat = await make_chat(await make_store_url("sqlite"),
                           allowed_origins=["https://shop.example"])
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await chat.widget(Origin="https://evil.example")
    assert caught.value.status == 403
    widget = await chat.widget(Origin="https://shop.example")
    await widget.hello()


async def test_an_agent_reading_shows_read_in_the_open_widget(chat: ChatHub) -> None:
    widget = await chat.widget()
    await widget.hello()
    ack = await widget.say("Do you ship to Oslo?", "c-00000001")
    conversation = ack["message"]["conversation_id"]
    resp = await chat.http.put(f"/api/v1/conversations/{conversation}/read",
                               json={"message_id": ack["id"]}, headers=await chat.agent())
    assert resp.status == 200, await resp.text()
    assert (await widget.recv("read"))["up_to"] == ack["id"]
