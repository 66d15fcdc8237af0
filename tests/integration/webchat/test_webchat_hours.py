"""Off hours in the web chat: `welcome` says open or closed by routing.yaml at the
injected clock, and the leave-a-message form becomes a conversation that never links the
visitor to the typed contact's history."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from omnihub.connectors.webchat.visitor import sign_user

from .conftest import SHOP_KEY, ChatHub

SHOP_HOURS = Path(__file__).parent / "data" / "shop_hours.yaml"
SATURDAY_NOON = datetime(2026, 3, 7, 11, 0, tzinfo=UTC)  # Berlin: Sat 12:00, closed
MONDAY_MORNING = datetime(2026, 3, 9, 9, 30, tzinfo=UTC)  # Berlin: Mon 10:30, open
CLOSED = {"open": False, "opens_at": "2026-03-09T08:00:00+00:00",
          "notice": "We're closed; back at 2026-03-09 09:00."}


async def shop_chat(make_chat: Any, make_store_url: Any, at: datetime) -> ChatHub:
    chat: ChatHub = await make_chat(await make_store_url("sqlite"), routing=SHOP_HOURS)
    chat.hub.connectors["web"].clock = lambda: at  # type: ignore[attr-defined]
    return chat


def form(client_id: str, contact: str, text: str = "Do you ship to Norway?") -> dict[str, Any]:
    return {"type": "leave_message", "client_id": client_id, "name": "Nina Berg",
            "contact": contact, "text": text}


async def test_welcome_says_closed_with_the_notice_and_next_opening(make_chat, make_store_url) -> None:  # type: ignore[no-untyped-def]
    chat = await shop_chat(make_chat, make_store_url, SATURDAY_NOON)
    widget = await chat.widget()
    await widget.hello()
    assert widget.welcome["hours"] == CLOSED


async def test_welcome_says_open_inside_the_groups_hours(make_chat, make_store_url) -> None:  # type: ignore[no-untyped-def]
    chat = await shop_chat(make_chat, make_store_url, MONDAY_MORNING)
    widget = await chat.widget()
    await widget.hello()
    assert widget.welcome["hours"] == {"open": True, "opens_at": None, "notice": None}


async def test_without_routing_the_chat_is_always_open(chat: ChatHub) -> None:
    widget = await chat.widget()
    await widget.hello()
    assert widget.welcome["hours"]["open"] is True


async def test_the_long_poll_welcome_carries_the_hours_too(make_chat, make_store_url) -> None:  # type: ignore[no-untyped-def]
    chat = await shop_chat(make_chat, make_store_url, SATURDAY_NOON)
    resp = await chat.http.post("/chat/web/send", json={"type": "hello"})
    assert resp.status == 200
    (welcome,) = (await resp.json())["frames"]
    assert welcome["hours"] == CLOSED


async def test_a_left_message_becomes_a_conversation_with_the_contact(make_chat, make_store_url) -> None:  # type: ignore[no-untyped-def]
    chat = await shop_chat(make_chat, make_store_url, SATURDAY_NOON)
    widget = await chat.widget()
    await widget.hello()
    await widget.send(form("leave-0001", "+47 412 34 567"))
    ack = await widget.recv("ack")
    assert ack["client_id"] == "leave-0001" and not ack["duplicate"]
    assert ack["message"]["parts"] == [  # the widget shows the contact card as text
        {"kind": "text", "text": "Do you ship to Norway?"},
        {"kind": "text", "text": "👤 Nina Berg +4741234567"}]
    stored = await chat.hub.store.get_message(ack["id"])
    assert stored is not None
    assert stored.parts[0].text == "Do you ship to Norway?"  # type: ignore[union-attr]
    assert stored.parts[1].model_dump(exclude_none=True) == {
        "kind": "contact", "name": "Nina Berg", "phone": "+4741234567"}
    conversation = await chat.hub.store.get_conversation(stored.conversation_id)
    assert conversation is not None and conversation.group == "web-team"
    customer = await chat.hub.store.get_customer(stored.customer_id)
    assert customer is not None and customer.display_name == "Nina Berg"
    # the typed phone is no identity: nobody can be found (or linked) by it
    assert await chat.hub.store.find_customer("phone", "+4741234567") is None


async def test_a_typed_email_never_links_to_its_owners_history(make_chat, make_store_url) -> None:  # type: ignore[no-untyped-def]
    chat = await shop_chat(make_chat, make_store_url, SATURDAY_NOON)
    owner = await chat.widget()
    await owner.hello(user={"user_id": "u-7", "user_hash": sign_user(SHOP_KEY, "u-7"),
                            "email": "nina@example.com",
                            "email_hash": sign_user(SHOP_KEY, "nina@example.com")})
    private = await owner.say("My address is Storgata 1", "own-00001")

    stranger = await chat.widget()
    await stranger.hello()
    await stranger.send(form("leave-0002", "Nina@Example.com"))
    ack = await stranger.recv("ack")
    assert ack["message"]["parts"][1]["text"] == "👤 Nina Berg nina@example.com"
    left = await chat.hub.store.get_message(ack["id"])
    owners = await chat.hub.store.get_message(private["id"])
    assert left is not None and owners is not None
    assert left.customer_id != owners.customer_id
    assert left.conversation_id != owners.conversation_id
    by_email = await chat.hub.store.find_customer("email", "nina@example.com")
    assert by_email is not None and by_email.id == owners.customer_id
    # the stranger's widget, reconnected, sees only its own message
    again = await chat.widget()
    history = await again.hello(token=stranger.welcome["token"])
    # (plus the off-hours auto-reply when the test runs outside the office's real hours)
    assert [m["id"] for m in history["messages"] if m["direction"] == "in"] == [ack["id"]]
    assert {m["conversation_id"] for m in history["messages"]} == {left.conversation_id}


async def test_a_bad_contact_is_refused_by_name_and_nothing_is_stored(make_chat, make_store_url) -> None:  # type: ignore[no-untyped-def]
    chat = await shop_chat(make_chat, make_store_url, SATURDAY_NOON)
    widget = await chat.widget()
    await widget.hello()
    await widget.send(form("leave-0003", "call me maybe"))
    error = await widget.recv("error")
    assert error["code"] == "bad_contact" and error["ref"] == "leave-0003"
    assert error["message"].startswith("contact: ")
    page = await chat.hub.store.list_conversations(channel_id="web")
    assert page.items == []


async def test_an_empty_field_is_a_bad_frame(make_chat, make_store_url) -> None:  # type: ignore[no-untyped-def]
    chat = await shop_chat(make_chat, make_store_url, SATURDAY_NOON)
    widget = await chat.widget()
    await widget.hello()
    await widget.send({**form("leave-0004", "a@example.com"), "name": ""})
    error = await widget.recv("error")
    assert error["code"] == "bad_frame" and "name" in error["message"]
