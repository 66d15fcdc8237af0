"""Satisfaction: a survey on close, the customer's 1-5 answer stored on that conversation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from omnihub.store.tables import conversations, messages, outbox

from .conftest import Desk, api_post, open_desk


async def _events(desk: Desk, type: str) -> list[dict[str, Any]]:
    stmt = sa.select(outbox.c.payload).where(outbox.c.topic == "event",
                                             outbox.c.type == type).order_by(outbox.c.seq)
    async with desk.hub.hub.db.read() as conn:
        return list((await conn.execute(stmt)).scalars())


async def _conversation_ids(desk: Desk, customer_id: str) -> list[str]:
    async with desk.hub.hub.db.read() as conn:
        return list((await conn.execute(sa.select(conversations.c.id).where(
            conversations.c.customer_id == customer_id).order_by(conversations.c.id))).scalars())


async def _thread(desk: Desk, conversation_id: str) -> list[Any]:
    """Oldest first (the store pages newest first)."""
    page = await desk.hub.hub.store.conversation_messages(conversation_id, limit=50)
    return page.items[::-1]


async def _answer(desk: Desk, external_id: str, text: str) -> str:
    resp = await desk.hub.post_message(api_post(external_id, customer="c-1", text=text))
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["messages"][0]["id"])


async def _closed_and_surveyed(desk: Desk) -> Any:
    await desk.ok("POST", f"/api/v1/conversations/{desk.conversation_id}/close")
    survey = (await _thread(desk, desk.conversation_id))[-1]
    assert survey.author == "system" and survey.direction == "out"
    return survey


async def test_close_sends_one_survey_with_buttons(desk: Desk) -> None:
    survey = await _closed_and_surveyed(desk)
    assert survey.parts[0].text == "How satisfied were you? Reply 1–5"
    target = await desk.hub.hub.store.delivery_target(survey.id, identity_kind="api")
    assert target is not None and target.buttons == ["1", "2", "3", "4", "5"]
    base = f"/api/v1/conversations/{desk.conversation_id}"
    await desk.ok("POST", f"{base}/reopen")
    await desk.ok("POST", f"{base}/close")
    surveys = [m for m in await _thread(desk, desk.conversation_id) if m.author == "system"]
    assert [m.id for m in surveys] == [survey.id]


async def test_an_agent_reply_is_delivered_without_buttons(desk: Desk) -> None:
    sent = await desk.ok("POST", f"/api/v1/conversations/{desk.conversation_id}/messages",
                         json={"text": "on its way"})
    target = await desk.hub.hub.store.delivery_target(sent["id"], identity_kind="api")
    assert target is not None and target.buttons is None


async def test_answer_is_stored_on_the_closed_conversation_without_a_new_one(desk: Desk) -> None:
    survey = await _closed_and_surveyed(desk)
    before = await _conversation_ids(desk, survey.customer_id)
    message_id = await _answer(desk, "m-rate", " 4 ")
    assert await _conversation_ids(desk, survey.customer_id) == before
    conv = await desk.hub.hub.store.get_conversation(desk.conversation_id)
    assert conv is not None and (conv.csat, conv.status) == (4, "closed")
    assert (await _thread(desk, desk.conversation_id))[-1].id == message_id
    rated = await _events(desk, "conversation.rated")
    assert [(e["data"]["score"], e["data"]["conversation"]["csat"]) for e in rated] == [(4, 4)]
    # The provider retries: the same message, once.
    assert await _answer(desk, "m-rate", " 4 ") == message_id
    assert len(await _events(desk, "conversation.rated")) == 1
    # A second thought within the window replaces the score.
    await _answer(desk, "m-rate-2", "5")
    conv = await desk.hub.hub.store.get_conversation(desk.conversation_id)
    assert conv is not None and conv.csat == 5
    assert await _conversation_ids(desk, survey.customer_id) == before


async def test_late_answer_or_other_text_is_an_ordinary_message(desk: Desk) -> None:
    survey = await _closed_and_surveyed(desk)
    async with desk.hub.hub.db.write() as conn:
        await conn.execute(sa.update(messages).where(messages.c.id == survey.id).values(
            created_at=datetime.now(UTC) - timedelta(days=8)))
    await _answer(desk, "m-late", "3")
    ids = await _conversation_ids(desk, survey.customer_id)
    assert len(ids) == 2
    conv = await desk.hub.hub.store.get_conversation(desk.conversation_id)
    assert conv is not None and conv.csat is None
    assert await _events(desk, "conversation.rated") == []


async def test_a_digit_in_a_new_open_conversation_is_not_a_rating(desk: Desk) -> None:
    survey = await _closed_and_surveyed(desk)
    await _answer(desk, "m-new", "one more question")
    await _answer(desk, "m-digit", "2")
    ids = await _conversation_ids(desk, survey.customer_id)
    assert len(ids) == 2
    assert [m.parts[0].text for m in await _thread(desk, ids[-1])] == ["one more question", "2"]
    conv = await desk.hub.hub.store.get_conversation(desk.conversation_id)
    assert conv is not None and conv.csat is None


@pytest.fixture
async def quiet_desk(make_hub, make_store_url) -> Desk:  # type: ignore[no-untyped-def]
    hub = await make_hub(await make_store_url("sqlite"),
                         extra={"inbox": {"csat": {"enabled": False}}})
    return await open_desk(hub)


async def test_survey_can_be_switched_off(quiet_desk: Desk) -> None:
    await quiet_desk.ok("POST", f"/api/v1/conversations/{quiet_desk.conversation_id}/close")
    thread = await _thread(quiet_desk, quiet_desk.conversation_id)
    assert [m.author for m in thread] == ["customer"]


@pytest.mark.parametrize("backend", ["postgresql", "mysql"])
async def test_answer_on_server_databases(make_store_url, make_hub, backend: str) -> None:  # type: ignore[no-untyped-def]
    desk = await open_desk(await make_hub(await make_store_url(backend)))
    survey = await _closed_and_surveyed(desk)
    before = await _conversation_ids(desk, survey.customer_id)
    await _answer(desk, "m-rate", "2")
    assert await _conversation_ids(desk, survey.customer_id) == before
    conv = await desk.hub.hub.store.get_conversation(desk.conversation_id)
    assert conv is not None and conv.csat == 2
