"""Events API through the real hub app: every fixture posted signed the way Slack signs."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pytest
import sqlalchemy as sa
from slack_support import JPEG, PDF, FakeSlackApi, SlackHub, fixture_names, load, sign

from omnihub.store.tables import messages

PHOTO_PATH = "/files-pri/T0SHOP0001-F0PHOTO001/download/img_2041.jpg"
PDF_PATH = "/files-pri/T0SHOP0001-F0PDF00001/download/delivery-note.pdf"

# What each fixture becomes: ("stored", part kinds) | ("updated", kind) | ("ignored", why)
OUTCOMES: dict[str, tuple[str, Any]] = {
    "url_verification": ("challenge", None),
    "event_callback__message_im": ("stored", ["text"]),
    "event_callback__message_channel": ("stored", ["text"]),
    "event_callback__message_thread_reply": ("stored", ["text"]),
    "event_callback__message_thread_broadcast": ("stored", ["text"]),
    "event_callback__message_file_share": ("stored", ["text", "image", "file"]),
    "event_callback__message_changed": ("updated", "edit"),
    "event_callback__message_deleted": ("updated", "delete"),
    "event_callback__message_bot_message": ("ignored", "bot message"),
    "event_callback__message_own_bot": ("ignored", "bot message"),
    "event_callback__reaction_added": ("ignored", "event reaction_added"),
    "event_callback__message_channel_join": ("ignored", "event message.channel_join"),
}


def test_every_fixture_has_a_webhook_outcome() -> None:
    assert sorted(OUTCOMES) == fixture_names()


async def stored(hub: SlackHub) -> list[dict[str, Any]]:
    async with hub.hub.db.read() as conn:
        rows = await conn.execute(sa.select(messages).order_by(messages.c.id))
        return [dict(r._mapping) for r in rows]


@pytest.mark.parametrize("name", sorted(OUTCOMES))
async def test_fixture_through_the_hub(name: str, slack_hub: SlackHub,
                                       slack_api: FakeSlackApi) -> None:
    slack_api.files.update({PHOTO_PATH: JPEG, PDF_PATH: PDF})
    outcome, detail = OUTCOMES[name]
    if outcome == "updated":
        assert (await slack_hub.post(load("event_callback__message_im"))).status == 200

    resp = await slack_hub.post(load(name))

    assert resp.status == 200, await resp.text()
    body = await resp.json()
    rows = await stored(slack_hub)
    if outcome == "challenge":
        assert body == {"challenge": load(name)["challenge"]} and rows == []
    elif outcome == "ignored":
        assert body["ok"] is True and rows == []
        metrics = await (await slack_hub.http.get("/metrics")).text()
        assert f'omnihub_webhook_ignored_total{{channel="sl",event="{detail}"}} 1.0' in metrics
    elif outcome == "updated":
        [row] = rows
        assert body["updated"] == [row["id"]]
        if detail == "edit":
            assert row["parts"][0]["text"] == "Hi, our pallet order PO-7732 hasn't arrived yet"
            assert row["edited_at"] is not None
        else:
            assert row["recalled_at"] is not None
    else:
        [row] = rows
        assert body["messages"] == [{"id": row["id"], "duplicate": False}]
        assert [p["kind"] for p in row["parts"]] == detail
        for part, content in zip(row["parts"][1:], (JPEG, PDF), strict=False):
            assert part["media"]["sha256"] == hashlib.sha256(content).hexdigest()


async def test_retry_is_deduplicated(slack_hub: SlackHub) -> None:
    first = await (await slack_hub.post(load("event_callback__message_im"))).json()
    retry = await slack_hub.post(load("event_callback__message_im"), retry=1)
    assert retry.status == 200
    assert (await retry.json())["messages"] == [{"id": first["messages"][0]["id"],
                                                 "duplicate": True}]
    assert len(await stored(slack_hub)) == 1


async def test_thread_reply_joins_the_threads_conversation(slack_hub: SlackHub) -> None:
    await slack_hub.post(load("event_callback__message_channel"))
    await slack_hub.post(load("event_callback__message_thread_reply"))
    rows = await stored(slack_hub)
    assert len(rows) == 2 and rows[0]["conversation_id"] == rows[1]["conversation_id"]


@pytest.mark.parametrize("mutate", [
    lambda h: {k: v for k, v in h.items() if k != "X-Slack-Signature"},
    lambda h: {k: v for k, v in h.items() if k != "X-Slack-Request-Timestamp"},
    lambda h: {**h, "X-Slack-Signature": "v0=" + "0" * 64},
    lambda h: {**h, "X-Slack-Request-Timestamp": "yesterday"},
    lambda h: {**h, **sign(b"x", timestamp=int(time.time()) - 301)},
])
async def test_bad_signature_is_401_and_stores_nothing(slack_hub: SlackHub, mutate: Any) -> None:
    raw = slack_hub.body(load("event_callback__message_im"))
    resp = await slack_hub.post(raw, headers=mutate(sign(raw)))
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "invalid_signature"
    assert await stored(slack_hub) == []


async def test_stale_signature_is_refused(slack_hub: SlackHub) -> None:
    resp = await slack_hub.post(load("event_callback__message_im"),
                                timestamp=int(time.time()) - 6 * 60)
    assert resp.status == 401


async def test_signed_with_another_secret_is_refused(slack_hub: SlackHub) -> None:
    resp = await slack_hub.post(load("url_verification"), secret="another-signing-secret-000")
    assert resp.status == 401


@pytest.mark.parametrize("raw", [b"not json", b"[]", b'{"type": "event_callback"}',
                                 b"\xff\xfe not utf-8"])
async def test_not_an_event_is_400_or_401(slack_hub: SlackHub, raw: bytes) -> None:
    resp = await slack_hub.post(raw)
    if raw.startswith(b"\xff"):  # cannot even be signed as text: refused as unsigned
        assert resp.status == 401
    else:
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_payload"
    assert await stored(slack_hub) == []


async def test_file_server_error_is_503_then_the_retry_stores(slack_hub: SlackHub,
                                                              slack_api: FakeSlackApi) -> None:
    slack_api.files.update({PHOTO_PATH: JPEG, PDF_PATH: PDF})
    slack_api.file_failures.append(500)
    assert (await slack_hub.post(load("event_callback__message_file_share"))).status == 503
    assert await stored(slack_hub) == []
    retry = await slack_hub.post(load("event_callback__message_file_share"), retry=1)
    assert retry.status == 200 and len(await stored(slack_hub)) == 1


async def test_file_gone_keeps_the_message(slack_hub: SlackHub) -> None:
    resp = await slack_hub.post(load("event_callback__message_file_share"))  # nothing served
    assert resp.status == 200
    [row] = await stored(slack_hub)
    assert [p.get("media") for p in row["parts"][1:]] == [None, None]


async def test_file_url_off_slack_is_never_fetched_with_the_token(
        slack_hub: SlackHub, slack_api: FakeSlackApi) -> None:
    payload = load("event_callback__message_file_share")
    for file in payload["event"]["files"]:
        file["url_private_download"] = "https://attacker.example.test/steal"
    resp = await slack_hub.post(payload)
    assert resp.status == 200
    [row] = await stored(slack_hub)
    assert row["parts"][1]["media"] is None
