"""Send, edit, recall against the local Bot API stand-in; errors and flood limits."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from tg_support import FakeBotApi, TelegramHub, load

from omnihub.connectors.base import OutboundMessage
from omnihub.connectors.errors import PermanentSendError, TemporarySendError
from omnihub.connectors.telegram.send import split_text
from omnihub.normalizer.schema import (
    FilePart,
    Identity,
    ImagePart,
    LocationPart,
    Part,
    TextPart,
)

LENA = Identity(kind="telegram", address="5218043771", verified=True)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"pixels" * 100


def outbound(*parts: Part, thread_key: str | None = None, **kw: Any) -> OutboundMessage:
    return OutboundMessage(message_id="01JMSG", conversation_id="01JCONV", channel_id="tg",
                           recipient=LENA, thread_key=thread_key, parts=list(parts),
                           author="agent:eve", **kw)


async def test_text_goes_to_the_private_chat(make_connector: Any, bot_api: FakeBotApi) -> None:
    receipt = await make_connector().send(outbound(TextPart(text="It ships today.")))
    [call] = bot_api.calls
    assert call.method == "sendMessage"
    assert call.params == {"chat_id": "5218043771", "text": "It ships today."}
    assert receipt.external_id == "5218043771:501"


async def test_long_text_is_split_at_telegrams_limit(make_connector: Any,
                                                     bot_api: FakeBotApi) -> None:
    text = ("word " * 1000).strip()  # 4999 characters
    receipt = await make_connector().send(outbound(TextPart(text=text)))
    sent = [c.params["text"] for c in bot_api.called("sendMessage")]
    assert len(sent) == 2 and all(len(t) <= 4096 for t in sent)
    assert "".join(sent) == text
    assert receipt.external_id == "5218043771:501"  # the first message stands for all


def test_split_counts_utf16_units_and_prefers_spaces() -> None:
    assert split_text("😀" * 3000) == ["😀" * 2048, "😀" * 952]  # 2 units each
    assert split_text("a" * 10 + " " + "b" * 5, limit=12) == ["a" * 10 + " ", "b" * 5]
    assert split_text("x" * 25, limit=10) == ["x" * 10, "x" * 10, "x" * 5]
    assert split_text("   ") == []


async def test_photo_and_document_are_uploaded_from_the_media_store(
        make_connector: Any, bot_api: FakeBotApi) -> None:
    connector = make_connector()
    image = connector.context.media.put(JPEG, "image/jpeg", "box.jpg")
    pdf = connector.context.media.put(b"%PDF-1.7\nlabel", "application/pdf", "label.pdf")

    await connector.send(outbound(ImagePart(media=image, caption="Like this?"),
                                  FilePart(media=pdf, caption="Your return label")))

    photo, document = bot_api.calls
    assert photo.method == "sendPhoto"
    assert photo.params == {"chat_id": "5218043771", "caption": "Like this?"}
    assert photo.uploads == {"photo": ("box.jpg", "image/jpeg", JPEG)}
    assert document.method == "sendDocument"
    assert document.uploads["document"] == ("label.pdf", "application/pdf", b"%PDF-1.7\nlabel")


async def test_media_by_url_and_long_caption(make_connector: Any, bot_api: FakeBotApi) -> None:
    caption = "c" * 1500
    await make_connector().send(outbound(ImagePart(url="https://cdn.example.test/a.jpg",
                                                   caption=caption)))
    photo, text = bot_api.calls
    assert photo.params == {"chat_id": "5218043771", "photo": "https://cdn.example.test/a.jpg"}
    assert text.method == "sendMessage" and text.params["text"] == caption


async def test_location(make_connector: Any, bot_api: FakeBotApi) -> None:
    await make_connector().send(outbound(LocationPart(latitude=52.5, longitude=13.4)))
    assert bot_api.calls[0].method == "sendLocation"
    assert bot_api.calls[0].params == {"chat_id": "5218043771", "latitude": 52.5,
                                       "longitude": 13.4}


async def test_buttons_become_an_inline_keyboard_on_the_last_message(
        make_connector: Any, bot_api: FakeBotApi) -> None:
    await make_connector().send(outbound(TextPart(text="a"), TextPart(text="Anything else?"),
                                         buttons=["Yes", "No, thanks"]))
    first, last = bot_api.calls
    assert "reply_markup" not in first.params
    assert last.params["reply_markup"] == {"inline_keyboard": [
        [{"text": "Yes", "callback_data": "Yes"}],
        [{"text": "No, thanks", "callback_data": "No, thanks"}]]}


async def test_group_reply_goes_to_the_group_answering_the_customer(
        make_connector: Any, bot_api: FakeBotApi) -> None:
    receipt = await make_connector().send(outbound(
        TextPart(text="Yes, by Friday."), thread_key="-1001874530112",
        reply_to_external_id="-1001874530112:4410"))
    [call] = bot_api.calls
    assert call.params == {"chat_id": "-1001874530112", "text": "Yes, by Friday.",
                           "reply_parameters": {"message_id": 4410,
                                                "allow_sending_without_reply": True}}
    assert receipt.external_id == "-1001874530112:501"


async def test_edit_and_recall(make_connector: Any, bot_api: FakeBotApi) -> None:
    connector = make_connector()
    message = outbound(TextPart(text="v1"))
    await connector.edit(message, "5218043771:501", [TextPart(text="v2")])
    await connector.recall(message, "5218043771:501")
    edit, delete = bot_api.calls
    assert (edit.method, edit.params) == ("editMessageText", {
        "chat_id": "5218043771", "message_id": 501, "text": "v2"})
    assert (delete.method, delete.params) == ("deleteMessage", {
        "chat_id": "5218043771", "message_id": 501})


async def test_edit_and_recall_are_idempotent(make_connector: Any, bot_api: FakeBotApi) -> None:
    connector = make_connector()
    bot_api.fail("editMessageText", 400, "Bad Request: message is not modified: specified new "
                 "message content and reply markup are exactly the same")
    bot_api.fail("deleteMessage", 400, "Bad Request: message to delete not found")
    await connector.edit(outbound(TextPart(text="x")), "5218043771:501", [TextPart(text="x")])
    await connector.recall(outbound(TextPart(text="x")), "5218043771:501")


async def test_edit_of_a_media_message_edits_its_caption(make_connector: Any,
                                                         bot_api: FakeBotApi) -> None:
    bot_api.fail("editMessageText", 400, "Bad Request: there is no text in the message to edit")
    await make_connector().edit(outbound(TextPart(text="x")), "5218043771:7",
                                [TextPart(text="new caption")])
    assert bot_api.calls[-1].method == "editMessageCaption"
    assert bot_api.calls[-1].params["caption"] == "new caption"


async def test_429_is_temporary_with_retry_after(make_connector: Any, bot_api: FakeBotApi) -> None:
    bot_api.fail("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    with pytest.raises(TemporarySendError) as caught:
        await make_connector().send(outbound(TextPart(text="hi")))
    assert caught.value.retry_after == 7.0


@pytest.mark.parametrize(("status", "description", "error"), [
    (500, "Internal Server Error", TemporarySendError),
    (502, "Bad Gateway", TemporarySendError),
    (403, "Forbidden: bot was blocked by the user", PermanentSendError),
    (400, "Bad Request: chat not found", PermanentSendError),
])
async def test_errors_are_temporary_or_permanent(make_connector: Any, bot_api: FakeBotApi,
                                                 status: int, description: str,
                                                 error: type[Exception]) -> None:
    bot_api.fail("sendMessage", status, description)
    with pytest.raises(error, match=description.split(":")[0]):
        await make_connector().send(outbound(TextPart(text="hi")))


async def test_unreachable_api_is_temporary_and_hides_the_token(make_connector: Any) -> None:
    connector = make_connector(api_base_url="http://127.0.0.1:9")
    with pytest.raises(TemporarySendError) as caught:
        await connector.send(outbound(TextPart(text="hi")))
    assert connector.settings.token not in str(caught.value)


async def test_media_gone_from_the_store_is_permanent(make_connector: Any) -> None:
    connector = make_connector()
    image = connector.context.media.put(JPEG, "image/jpeg")
    connector.context.media.delete(image.sha256)
    with pytest.raises(PermanentSendError, match="media store"):
        await connector.send(outbound(ImagePart(media=image)))


async def test_one_message_per_second_per_chat(make_connector: Any, bot_api: FakeBotApi) -> None:
    connector = make_connector(max_per_chat_per_second=1)
    started = time.monotonic()
    await asyncio.gather(connector.send(outbound(TextPart(text="1"))),
                         connector.send(outbound(TextPart(text="2"))))
    assert time.monotonic() - started >= 0.9
    started = time.monotonic()
    await asyncio.gather(*(connector.send(outbound(TextPart(text="x"), thread_key=f"-{n}"))
                           for n in range(1, 6)))  # other chats are not held back
    assert time.monotonic() - started < 0.5


async def test_agent_reply_is_delivered_through_the_hub(telegram_hub: TelegramHub,
                                                        bot_api: FakeBotApi) -> None:
    """Inbound message, agent reply over the API, delivery to the customer's chat."""
    await telegram_hub.post(load("message__text"))
    from omnihub.store.tokens import create_token

    auth = {"Authorization": f"Bearer {await create_token(telegram_hub.hub.db, 'eve', 'agent')}"}
    [conv] = (await (await telegram_hub.http.get("/api/v1/conversations",
                                                 headers=auth)).json())["items"]
    resp = await telegram_hub.http.post(f"/api/v1/conversations/{conv['id']}/messages",
                                        json={"text": "It ships today."}, headers=auth)
    assert resp.status == 201, await resp.text()
    for _ in range(200):
        msgs = (await (await telegram_hub.http.get(
            f"/api/v1/conversations/{conv['id']}/messages", headers=auth)).json())["items"]
        if msgs[0]["status"] == "sent":
            break
        await asyncio.sleep(0.02)
    [call] = bot_api.called("sendMessage")
    assert call.params == {"chat_id": "5218043771", "text": "It ships today."}
    assert msgs[0]["status"] == "sent" and msgs[0]["external_id"] == "5218043771:501"
