"""The FAQ bot in a running hub: a customer message comes in through the API channel,
the bot answers (or offers choices, or hands over) through the ordinary reply path.

The case table runs in Chinese and English against the example knowledge base; each
case is a conversation of one or more customer messages and what must follow.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestServer

from omnihub.bot.worker import HANDOVER_EVENT, FaqBot
from omnihub.kb.io import import_entries
from omnihub.kb.store import list_entries
from omnihub.normalizer.schema import Message
from omnihub.store.tables import bot_sessions, kb_learning, outbox

from ..hub.conftest import HubClient, api_post, make_hub  # noqa: F401

DATA = Path(__file__).parent / "data"
EXAMPLE_KB = Path(__file__).parents[3] / "config" / "examples" / "kb.yaml"


async def until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 20.0) -> Any:
    """Poll until `check` gives something truthy (the bot works off the event bus)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not reached within {timeout}s")
        await asyncio.sleep(0.02)


@pytest.fixture
async def shop_replies() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A stand-in for the shop's reply_url: every reply the API channel delivers."""
    received: list[dict[str, Any]] = []

    async def replies(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({"id": f"shop-{len(received)}"})

    app = web.Application()
    app.router.add_post("/replies", replies)
    server = TestServer(app)
    await server.start_server()
    yield str(server.make_url("/replies")), received
    await server.close()


@pytest.fixture
async def bot_hub(make_hub, make_store_url, shop_replies) -> HubClient:  # type: ignore[no-untyped-def]  # noqa: F811
    hub = await make_hub(await make_store_url("sqlite"), reply_url=shop_replies[0], extra={
        "routing": str(DATA / "routing.yaml"), "bot": {"channels": ["shop"]}})
    await import_entries(hub.hub.db, EXAMPLE_KB.read_text(encoding="utf-8"), "yaml",
                         actor="test")
    hub.delivered = shop_replies[1]  # type: ignore[attr-defined]
    return hub


class Chat:
    """One customer's conversation with the bot."""

    def __init__(self, hub: HubClient, customer: str) -> None:
        self.hub = hub
        self.customer = customer
        self.sent = 0
        self.conversation_id = ""

    async def say(self, text: str) -> None:
        self.sent += 1
        resp = await self.hub.post_message(api_post(f"{self.customer}-{self.sent}",
                                                    customer=self.customer, text=text))
        assert resp.status == 200, await resp.text()
        message = await self.hub.hub.store.get_message((await resp.json())["messages"][0]["id"])
        assert message is not None
        self.conversation_id = message.conversation_id

    async def thread(self) -> list[Message]:
        page = await self.hub.hub.store.conversation_messages(self.conversation_id, limit=200)
        return sorted(page.items, key=lambda m: m.id)  # oldest first

    async def bot_messages(self) -> list[Message]:
        return [m for m in await self.thread() if m.author == "bot"]

    async def wait_bot(self, count: int) -> list[Message]:
        async def enough() -> list[Message] | None:
            said = await self.bot_messages()
            return said if len(said) >= count else None
        return await until(enough, f"{count} bot message(s)")

    async def status(self) -> str:
        conversation = await self.hub.hub.store.get_conversation(self.conversation_id)
        assert conversation is not None
        return conversation.status

    async def buttons(self, message: Message) -> list[str] | None:
        """The buttons the API channel delivered with this message to the shop."""
        async def delivered() -> dict[str, Any] | None:
            return next((r for r in self.hub.delivered  # type: ignore[attr-defined]
                         if r["message_id"] == message.id), None)
        return (await until(delivered, f"delivery of {message.id}")).get("buttons")


def text(message: Message) -> str:
    return message.parts[0].text  # type: ignore[union-attr]


# (customer messages, expected: "answer:<entry question>" | "suggest" | "handover:<reason>")
CASES = [
    pytest.param(["退款多久到账"], "answer:退款一般多久能到账？", id="zh-answer-refund-timing"),
    pytest.param(["发票抬头写错了"], "answer:发票信息填错了怎么办？", id="zh-answer-invoice"),
    pytest.param(["how long until i get my refund"], "answer:How long does a refund take?",
                 id="en-answer-refund-timing"),
    pytest.param(["apple pay accepted?"], "answer:What payment methods do you accept?",
                 id="en-answer-payment"),
    pytest.param(["转人工"], "handover:customer_request", id="zh-handover-request"),
    pytest.param(["你好", "我要人工客服"], "handover:customer_request", id="zh-handover-later"),
    pytest.param(["I want to talk to a human"], "handover:customer_request",
                 id="en-handover-request"),
    pytest.param(["this is ridiculous, where is my money"], "handover:negative_sentiment",
                 id="en-handover-negative"),
    pytest.param(["你们是骗子吧"], "handover:negative_sentiment", id="zh-handover-negative"),
    pytest.param(["量子力学是什么", "那相对论呢"], "handover:unanswered",
                 id="zh-handover-unanswered"),
    pytest.param(["what is the capital of france", "who won the world cup"],
                 "handover:unanswered", id="en-handover-unanswered"),
    pytest.param(["what size should I get"], "suggest", id="en-suggest-when-unsure"),
]


@pytest.mark.parametrize(("said", "expected"), CASES)
async def test_case_table(bot_hub: HubClient, said: list[str], expected: str) -> None:
    chat = Chat(bot_hub, "c-case")
    for number, line in enumerate(said, start=1):
        await chat.say(line)
        if number < len(said):
            await chat.wait_bot(number)
    kind, _, what = expected.partition(":")
    if kind == "answer":
        reply = (await chat.wait_bot(1))[0]
        entries = {e.question: e for e in await list_entries(bot_hub.hub.db)}
        assert text(reply).startswith(entries[what].answer)
        assert await chat.buttons(reply) in (["有帮助", "没帮助"], ["Yes", "No"])
        assert await chat.status() == "pending"
    elif kind == "suggest":
        reply = (await chat.wait_bot(1))[0]
        buttons = await chat.buttons(reply)
        assert buttons is not None and 2 <= len(buttons) <= 3
        assert "How do I find my size?" in buttons
        assert await chat.status() == "pending"
    else:
        async def opened() -> bool:
            return await chat.status() == "open"
        await until(opened, "hand-over")
        conversation = await bot_hub.hub.store.get_conversation(chat.conversation_id)
        assert conversation is not None and conversation.group == "support"
        async with bot_hub.hub.db.read() as conn:
            reason = (await conn.execute(sa.select(bot_sessions.c.reason).where(
                bot_sessions.c.conversation_id == chat.conversation_id))).scalar()
            events = (await conn.execute(sa.select(outbox.c.payload).where(
                outbox.c.type == HANDOVER_EVENT, outbox.c.key == chat.conversation_id)
            )).scalars().all()
        assert reason == what
        assert [e["data"]["reason"] for e in events] == [what]
        notes = [m for m in await chat.thread() if m.private]
        assert len(notes) == 1 and text(notes[0]).startswith("Handed over by the FAQ bot")
        customer_lines = [m for m in await chat.thread() if m.direction == "in"]
        assert [text(m) for m in customer_lines] == said  # the whole transcript stays


async def test_complaints_never_go_to_the_bot(bot_hub: HubClient) -> None:
    chat = Chat(bot_hub, "c-angry")
    await chat.say("我要投诉，快递把箱子摔坏了")
    conversation = await bot_hub.hub.store.get_conversation(chat.conversation_id)
    assert conversation is not None
    assert (conversation.status, conversation.category, conversation.group) == (
        "open", "complaint", "complaints")
    chat2 = Chat(bot_hub, "c-calm")
    await chat2.say("退款多久到账")
    await chat2.wait_bot(1)  # the bot is working: a complaint was skipped, not missed
    assert await chat.bot_messages() == []


async def test_feedback_reweights_and_no_hands_over(bot_hub: HubClient) -> None:
    chat = Chat(bot_hub, "c-feedback")
    await chat.say("退款多久到账")
    await chat.wait_bot(1)
    await chat.say("有帮助")
    thanks = (await chat.wait_bot(2))[1]
    assert text(thanks).startswith("很高兴")
    await chat.say("退货运费谁付")
    await chat.wait_bot(3)
    await chat.say("没帮助")

    async def opened() -> bool:
        return await chat.status() == "open"
    await until(opened, "hand-over after 'no'")
    counts = {e.question: (e.helpful, e.unhelpful) for e in await list_entries(bot_hub.hub.db)}
    assert counts["退款一般多久能到账？"] == (1, 0)
    assert counts["退货运费谁承担？"] == (0, 1)


async def test_pending_is_not_assigned_and_handover_routes_normally(bot_hub: HubClient) -> None:
    ann = await bot_hub.token("agent", "ann")
    resp = await bot_hub.http.put("/api/v1/agents/ann/availability", headers=ann,
                                  json={"availability": "online"})
    assert resp.status == 200, await resp.text()
    chat = Chat(bot_hub, "c-route")
    await chat.say("退款多久到账")
    await chat.wait_bot(1)
    conversation = await bot_hub.hub.store.get_conversation(chat.conversation_id)
    assert conversation is not None and (conversation.status, conversation.assignee) == (
        "pending", None)
    assert conversation.first_response_due is None  # no clocks while the bot holds it
    await chat.say("人工")

    async def assigned() -> bool:
        c = await bot_hub.hub.store.get_conversation(chat.conversation_id)
        return c is not None and c.assignee == "ann"
    await until(assigned, "assignment after hand-over")
    handed = await bot_hub.hub.store.get_conversation(chat.conversation_id)
    assert handed is not None and handed.first_response_due is not None
    assert handed.first_response_at is None  # the bot's answer was not a person's


async def test_redelivered_message_is_answered_once(bot_hub: HubClient) -> None:
    chat = Chat(bot_hub, "c-twice")
    await chat.say("退款多久到账")
    await chat.wait_bot(1)
    first = [m for m in await chat.thread() if m.direction == "in"][0]
    bot = FaqBot(bot_hub.hub)
    await bot.on_customer_message(first.model_dump(mode="json"))
    await bot.on_customer_message(first.model_dump(mode="json"))
    assert len(await chat.bot_messages()) == 1


async def test_agents_answer_after_handover_becomes_a_suggestion(bot_hub: HubClient) -> None:
    admin = await bot_hub.token("admin", "ada")
    for n, question in enumerate(["你们周末有人值班吗", "周末有客服值班吗"]):
        chat = Chat(bot_hub, f"c-learn-{n}")
        await chat.say(question)
        await chat.wait_bot(1)
        await chat.say("转人工")

        async def opened(chat: Chat = chat) -> bool:
            return await chat.status() == "open"
        await until(opened, "hand-over")
        resp = await bot_hub.http.post(f"/api/v1/conversations/{chat.conversation_id}/messages",
                                       headers=admin, json={"text": "周末9:00-18:00有客服在线。"})
        assert resp.status in (200, 201), await resp.text()

    async def answered() -> int:
        async with bot_hub.hub.db.read() as conn:
            return len((await conn.execute(sa.select(kb_learning.c.id).where(
                kb_learning.c.answer.is_not(None)))).all()) == 2
    await until(answered, "agent answers recorded")
    resp = await bot_hub.http.get("/api/v1/kb/suggestions", headers=admin)
    items = (await resp.json())["items"]
    assert [(s["kind"], s["support"], s["answer"]) for s in items] == [
        ("new_entry", 2, "周末9:00-18:00有客服在线。")]
    resp = await bot_hub.http.post(f"/api/v1/kb/suggestions/{items[0]['id']}/accept",
                                   headers=admin, json={})
    assert resp.status == 200, await resp.text()
    entry = await resp.json()
    assert entry["question"] == "你们周末有人值班吗"
    assert entry["paraphrases"] == ["周末有客服值班吗"]
    resp = await bot_hub.http.get("/api/v1/kb/suggestions", headers=admin)
    assert (await resp.json())["items"] == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mysql"])
async def test_answer_feedback_and_handover_on_every_database(
        make_store_url, make_hub, shop_replies, backend: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    hub = await make_hub(await make_store_url(backend), reply_url=shop_replies[0], extra={
        "routing": str(DATA / "routing.yaml"), "bot": {"channels": ["shop"]}})
    await import_entries(hub.hub.db, EXAMPLE_KB.read_text(encoding="utf-8"), "yaml",
                         actor="test")
    chat = Chat(hub, "c-db")
    await chat.say("how long until i get my refund")
    assert text((await chat.wait_bot(1))[0]).startswith("Once approved, refunds")
    await chat.say("No")

    async def opened() -> bool:
        return await chat.status() == "open"
    await until(opened, "hand-over after 'No'")
    counts = {e.question: e.unhelpful for e in await list_entries(hub.hub.db)}
    assert counts["How long does a refund take?"] == 1


async def test_machine_sent_mail_in_a_bot_conversation_gets_no_answer(
        bot_hub: HubClient) -> None:
    from omnihub.normalizer.schema import Identity, InboundMessage, Sender, TextPart

    chat = Chat(bot_hub, "c-auto")
    await chat.say("退款多久到账")
    await chat.wait_bot(1)
    auto = InboundMessage(  # an out-of-office answer to the bot's reply, same question in it
        channel_id="shop", channel_type="api", external_id="c-auto-ooo",
        sender=Sender(identities=[Identity(kind="api", address="shop:c-auto", verified=True)]),
        parts=[TextPart(text="I am away until Monday. Re: 退款多久到账")],
        automated="auto_reply")
    stored = await bot_hub.hub.store.ingest(auto)
    assert stored.message.automated == "auto_reply"
    assert stored.message.conversation_id == chat.conversation_id
    await chat.say("how long until i get my refund")
    said = await chat.wait_bot(2)  # events of one conversation are handled in order
    await asyncio.sleep(0.3)
    assert len(await chat.bot_messages()) == 2
    assert said[1].id > stored.message.id  # the answer is to the customer, after the auto-reply
