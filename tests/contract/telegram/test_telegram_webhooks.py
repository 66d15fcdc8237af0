"""Webhooks through the real hub app: every fixture posted with Telegram's secret header."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from tg_support import SECRET, FakeBotApi, TelegramHub, file_bytes, fixture_names, load

from omnihub.store.tables import messages

# What each fixture becomes: ("stored", part kind) | ("updated", None) | ("ignored", reason)
OUTCOMES: dict[str, tuple[str, str | None]] = {
    "message__text": ("stored", "text"),
    "message__photo": ("stored", "image"),
    "message__voice": ("stored", "audio"),
    "message__audio": ("stored", "audio"),
    "message__video": ("stored", "video"),
    "message__video_note": ("stored", "video"),
    "message__document": ("stored", "file"),
    "message__sticker": ("stored", "image"),
    "message__location": ("stored", "location"),
    "message__contact": ("stored", "contact"),
    "message__reply": ("stored", "text"),
    "message__group_text": ("stored", "text"),
    "callback_query__button": ("stored", "text"),
    "edited_message__text": ("updated", None),
    "my_chat_member__blocked": ("ignored", "update type my_chat_member"),
    "message__new_chat_members": ("ignored", "message without supported content"),
}
FILES = {  # the files the media fixtures refer to, and the type their bytes are
    "AgACAgIAAxkBAAIBZmcLarge": "image/jpeg",
    "AwACAgIAAxkBAAIBZ2VoiceId": "audio/ogg",
    "CQACAgIAAxkBAAIBaGAudioId": "audio/mpeg",
    "BAACAgIAAxkBAAIBaVideoId": "video/mp4",
    "DQACAgIAAxkBAAIBalNoteId": "video/mp4",
    "BQACAgIAAxkBAAIBa2DocId": "application/pdf",
    "CAACAgIAAxkBAAIBbFStickerId": "image/webp",
}


def test_every_fixture_has_a_webhook_outcome() -> None:
    assert sorted(OUTCOMES) == fixture_names()


async def stored_messages(hub: TelegramHub) -> list[dict[str, Any]]:
    import sqlalchemy as sa

    async with hub.hub.db.read() as conn:
        rows = await conn.execute(sa.select(messages).order_by(messages.c.id))
        return [dict(r._mapping) for r in rows]


@pytest.mark.parametrize("name", sorted(OUTCOMES))
async def test_fixture_through_the_hub(name: str, telegram_hub: TelegramHub,
                                       bot_api: FakeBotApi) -> None:
    for file_id, mime in FILES.items():
        bot_api.files[file_id] = file_bytes(file_id, mime)
    outcome, detail = OUTCOMES[name]
    if outcome == "updated":
        assert (await telegram_hub.post(load("message__text"))).status == 200

    resp = await telegram_hub.post(load(name))

    assert resp.status == 200, await resp.text()
    body = await resp.json()
    rows = await stored_messages(telegram_hub)
    if outcome == "ignored":
        assert body["ignored"].startswith(str(detail)) and rows == []
        metrics = await (await telegram_hub.http.get("/metrics")).text()
        assert 'omnihub_webhook_ignored_total{channel="tg"' in metrics
        return
    if outcome == "updated":
        assert len(rows) == 1 and body["updated"] == [rows[0]["id"]]
        assert rows[0]["parts"] == [{"kind": "text", "text": "Hi! Where is my order #10483?",
                                     "html": None}]
        assert rows[0]["edited_at"] is not None
        return
    if name == "callback_query__button":  # answered inside the webhook reply
        assert body == {"method": "answerCallbackQuery",
                        "callback_query_id": "4382917365120938475"}
    else:
        assert len(body["messages"]) == 1 and body["messages"][0]["duplicate"] is False
    [row] = rows
    [part] = row["parts"]
    assert part["kind"] == detail and row["direction"] == "in"
    if "media" in part:
        [file_id] = [c.params["file_id"] for c in bot_api.called("getFile")]
        content = file_bytes(file_id, FILES[file_id])
        assert part["media"]["sha256"] == hashlib.sha256(content).hexdigest()
        assert part["media"]["mime"] == FILES[file_id] and part["media"]["size"] == len(content)
        media_dir = telegram_hub.hub.settings.media.dir
        sha = part["media"]["sha256"]
        assert (media_dir / sha[:2] / sha[2:4] / sha).read_bytes() == content


async def test_replayed_update_is_stored_once(telegram_hub: TelegramHub) -> None:
    first = await (await telegram_hub.post(load("message__text"))).json()
    again = await (await telegram_hub.post(load("message__text"))).json()
    assert again["messages"] == [{"id": first["messages"][0]["id"], "duplicate": True}]
    assert len(await stored_messages(telegram_hub)) == 1


async def test_replayed_edit_changes_nothing(telegram_hub: TelegramHub) -> None:
    await telegram_hub.post(load("message__text"))
    await telegram_hub.post(load("edited_message__text"))
    before = await stored_messages(telegram_hub)
    resp = await telegram_hub.post(load("edited_message__text"))
    assert resp.status == 200
    assert await stored_messages(telegram_hub) == before


async def test_edit_of_an_unknown_message_is_accepted(telegram_hub: TelegramHub) -> None:
    resp = await telegram_hub.post(load("edited_message__text"))
    assert resp.status == 200 and (await resp.json())["updated"] == []


@pytest.mark.parametrize("secret", [None, "", "wrong-secret-0123456789", SECRET + "x"])
async def test_wrong_or_missing_secret_is_403_and_stores_nothing(
        telegram_hub: TelegramHub, secret: str | None) -> None:
    resp = await telegram_hub.post(load("message__text"), secret=secret)
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "forbidden"
    assert await stored_messages(telegram_hub) == []


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"update_id": 5}',
                                  b'{"update_id": 5, "message": {"text": "no chat"}}'])
async def test_not_an_update_is_400(telegram_hub: TelegramHub, body: bytes) -> None:
    resp = await telegram_hub.post(body)
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "bad_payload"
    assert await stored_messages(telegram_hub) == []


async def test_file_server_down_is_503_so_telegram_retries(telegram_hub: TelegramHub,
                                                           bot_api: FakeBotApi) -> None:
    bot_api.files["AgACAgIAAxkBAAIBZmcLarge"] = file_bytes("AgACAgIAAxkBAAIBZmcLarge",
                                                            "image/jpeg")
    bot_api.file_failures.append(502)

    first = await telegram_hub.post(load("message__photo"))
    assert first.status == 503 and await stored_messages(telegram_hub) == []

    retry = await telegram_hub.post(load("message__photo"))
    assert retry.status == 200
    [row] = await stored_messages(telegram_hub)
    assert row["parts"][0]["media"]["mime"] == "image/jpeg"


async def test_getfile_refused_keeps_the_message_without_the_file(
        telegram_hub: TelegramHub, bot_api: FakeBotApi) -> None:
    bot_api.fail("getFile", 400, "Bad Request: file is too big")
    resp = await telegram_hub.post(load("message__document"))
    assert resp.status == 200
    [row] = await stored_messages(telegram_hub)
    assert row["parts"] == [{"kind": "file", "media": None, "url": None,
                             "caption": "Invoice attached"}]


async def test_oversized_file_is_not_downloaded(make_telegram_hub: Any,
                                                bot_api: FakeBotApi) -> None:
    hub = await make_telegram_hub()
    hub.hub.connectors["tg"].context.media.max_bytes = 1000
    resp = await hub.post(load("message__video"))  # file_size 2310411
    assert resp.status == 200 and bot_api.called("getFile") == []
    [row] = await stored_messages(hub)
    assert row["parts"][0]["media"] is None


async def test_set_webhook_at_start(make_telegram_hub: Any, bot_api: FakeBotApi) -> None:
    await make_telegram_hub(set_webhook=True)
    [call] = bot_api.called("setWebhook")
    assert call.params == {"url": "https://hub.example.test/webhooks/tg", "secret_token": SECRET,
                           "allowed_updates": ["message", "edited_message", "callback_query"]}
