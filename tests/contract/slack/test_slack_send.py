"""Send, edit, recall through slack-sdk against the local Web API stand-in."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from slack_support import BOT_TOKEN, JPEG, FakeSlackApi, SlackHub, load

from omnihub.connectors.base import OutboundMessage
from omnihub.connectors.errors import NotSupported, PermanentSendError, TemporarySendError
from omnihub.connectors.slack.connector import split_text
from omnihub.normalizer.schema import Identity, ImagePart, LocationPart, Part, TextPart

MAYA = Identity(kind="slack", address="T0SHOP0001:U0MAYA0001", verified=True)


def outbound(*parts: Part, thread_key: str | None = "C0SHARED01:1767262000.000200",
             **kw: Any) -> OutboundMessage:
    return OutboundMessage(message_id="01JMSG", conversation_id="01JCONV", channel_id="sl",
                           recipient=MAYA, thread_key=thread_key, parts=list(parts),
                           author="agent:eve", **kw)


async def test_reply_goes_into_the_thread(make_connector: Any, slack_api: FakeSlackApi) -> None:
    receipt = await make_connector().send(outbound(TextPart(text="Thursday 8-12 works.")))
    [call] = slack_api.calls
    assert call.method == "chat.postMessage" and call.token == BOT_TOKEN
    assert call.params == {"channel": "C0SHARED01", "text": "Thursday 8-12 works.",
                           "thread_ts": "1767262000.000200"}
    assert receipt.external_id == "C0SHARED01:1767270000.000001"


async def test_dm_reply_goes_to_the_dm_without_a_thread(make_connector: Any,
                                                        slack_api: FakeSlackApi) -> None:
    await make_connector().send(outbound(TextPart(text="On it."), thread_key="D0MAYADM01"))
    assert slack_api.calls[0].params == {"channel": "D0MAYADM01", "text": "On it."}


async def test_without_a_thread_key_the_customer_gets_a_dm(make_connector: Any,
                                                           slack_api: FakeSlackApi) -> None:
    receipt = await make_connector().send(outbound(TextPart(text="Hello"), thread_key=None))
    assert slack_api.calls[0].params["channel"] == "U0MAYA0001"
    assert receipt.external_id == "D0NEWDM001:1767270000.000001"


async def test_files_use_the_upload_v2_flow_into_the_thread(make_connector: Any,
                                                            slack_api: FakeSlackApi) -> None:
    connector = make_connector()
    image = connector.context.media.put(JPEG, "image/jpeg", "pallet.jpg")

    await connector.send(outbound(TextPart(text="Here it is"),
                                  ImagePart(media=image, caption="after repacking")))

    assert [c.method for c in slack_api.calls] == [
        "chat.postMessage", "files.getUploadURLExternal", "files.completeUploadExternal"]
    get_url, complete = slack_api.calls[1:]
    assert get_url.params["filename"] == "pallet.jpg"
    assert int(get_url.params["length"]) == len(JPEG)
    [(file_id, content)] = slack_api.uploads.items()
    assert content == JPEG
    assert json.loads(complete.params["files"]) == [{"id": file_id, "title": "pallet.jpg"}]
    assert complete.params["channel_id"] == "C0SHARED01"
    assert complete.params["thread_ts"] == "1767262000.000200"
    assert complete.params["initial_comment"] == "after repacking"


async def test_location_is_sent_as_text(make_connector: Any, slack_api: FakeSlackApi) -> None:
    await make_connector().send(outbound(LocationPart(latitude=52.5, longitude=13.4,
                                                      title="Dock 3")))
    assert slack_api.calls[0].params["text"] == "Dock 3: 52.5, 13.4"


def test_split_text() -> None:
    assert split_text("a" * 50_000) == ["a" * 40_000, "a" * 10_000]
    assert split_text("line\n" * 3, limit=8) == ["line\n", "line\n", "line\n"]
    assert split_text(" \n ") == []


async def test_edit_and_recall(make_connector: Any, slack_api: FakeSlackApi) -> None:
    connector = make_connector()
    message = outbound(TextPart(text="v1"))
    await connector.edit(message, "C0SHARED01:1767270000.000001", [TextPart(text="v2")])
    await connector.recall(message, "C0SHARED01:1767270000.000001")
    update, delete = slack_api.calls
    assert (update.method, update.params) == ("chat.update", {
        "channel": "C0SHARED01", "ts": "1767270000.000001", "text": "v2"})
    assert (delete.method, delete.params) == ("chat.delete", {
        "channel": "C0SHARED01", "ts": "1767270000.000001"})


async def test_recall_of_a_message_already_gone_is_done(make_connector: Any,
                                                        slack_api: FakeSlackApi) -> None:
    slack_api.fail("chat.delete", 200, "message_not_found")
    await make_connector().recall(outbound(TextPart(text="x")), "C0SHARED01:1.2")


async def test_429_retry_after_is_honoured(make_connector: Any, slack_api: FakeSlackApi) -> None:
    slack_api.fail("chat.postMessage", 429, "ratelimited", retry_after=30)
    with pytest.raises(TemporarySendError) as caught:
        await make_connector().send(outbound(TextPart(text="hi")))
    assert caught.value.retry_after == 30.0


@pytest.mark.parametrize(("status", "error", "kind"), [
    (200, "channel_not_found", PermanentSendError),
    (200, "not_in_channel", PermanentSendError),
    (200, "invalid_auth", PermanentSendError),
    (200, "internal_error", TemporarySendError),
    (503, "service_unavailable", TemporarySendError),
])
async def test_errors_are_temporary_or_permanent(make_connector: Any, slack_api: FakeSlackApi,
                                                 status: int, error: str,
                                                 kind: type[Exception]) -> None:
    slack_api.fail("chat.postMessage", status, error)
    with pytest.raises(kind, match=error):
        await make_connector().send(outbound(TextPart(text="hi")))


async def test_unreachable_is_temporary(make_connector: Any) -> None:
    connector = make_connector(api_base_url="http://127.0.0.1:9/api/")
    with pytest.raises(TemporarySendError):
        await connector.send(outbound(TextPart(text="hi")))


async def test_nothing_sendable_is_permanent(make_connector: Any) -> None:
    with pytest.raises(PermanentSendError):
        await make_connector().send(outbound(ImagePart(url=None)))


async def test_base_connector_cannot_edit(make_connector: Any) -> None:
    from omnihub.connectors.base import Connector

    with pytest.raises(NotSupported):
        await Connector.edit(make_connector(), outbound(TextPart(text="x")), "C:1", [])


async def test_agent_reply_lands_in_the_customers_thread(make_slack_hub: Any,
                                                         slack_api: FakeSlackApi) -> None:
    """Inbound channel message, agent reply over the API, chat.postMessage into its thread."""
    hub: SlackHub = await make_slack_hub()
    await hub.post(load("event_callback__message_channel"))
    from omnihub.store.tokens import create_token

    auth = {"Authorization": f"Bearer {await create_token(hub.hub.db, 'eve', 'agent')}"}
    [conv] = (await (await hub.http.get("/api/v1/conversations", headers=auth)).json())["items"]
    resp = await hub.http.post(f"/api/v1/conversations/{conv['id']}/messages",
                               json={"text": "Thursday 8-12 works."}, headers=auth)
    assert resp.status == 201, await resp.text()
    for _ in range(200):
        msgs = (await (await hub.http.get(f"/api/v1/conversations/{conv['id']}/messages",
                                          headers=auth)).json())["items"]
        if msgs[0]["status"] == "sent":
            break
        await asyncio.sleep(0.02)
    [call] = slack_api.called("chat.postMessage")
    assert call.params == {"channel": "C0SHARED01", "text": "Thursday 8-12 works.",
                           "thread_ts": "1767262000.000200"}
    assert msgs[0]["external_id"] == "C0SHARED01:1767270000.000001"
