"""Telegram's flood limits on our side: a call holds its place from its start until a
period after its answer, so a late request can't land inside the next one's window."""

from __future__ import annotations

import asyncio
import math
import time
import zlib
from typing import Any

import pytest
from tg_support import FakeBotApi, TelegramHub

from omnihub.connectors.telegram.limiter import FloodLimiter, Window, window_for_rate
from omnihub.hub.delivery import DELIVERY_LANES
from omnihub.store.tokens import create_token


def test_a_place_is_held_from_the_start_until_a_period_after_the_answer() -> None:
    window = Window(limit=1, period=1.0)
    assert window.try_start(10.0) == 0.0
    assert math.isinf(window.try_start(10.5))  # still in flight: wait for its answer
    window.finish(10.8)  # a slow answer: Telegram may have seen it as late as 10.8
    assert window.try_start(11.5) == pytest.approx(0.3)  # not 1 s after the start, after 10.8
    assert window.try_start(11.8) == 0.0


def test_thirty_places_a_second_for_the_bot() -> None:
    window = window_for_rate(30)
    assert (window.limit, window.period) == (30, 1.0)
    assert all(window.try_start(0.0) == 0.0 for _ in range(30))
    for n in range(30):
        window.finish(0.01 * n)
    assert window.try_start(0.5) == pytest.approx(0.5)  # the first place frees at 1.0
    assert window.try_start(1.0) == 0.0
    assert window.try_start(1.0) > 0  # the second frees at 1.01


def test_rates_become_whole_calls_per_period() -> None:
    assert (window_for_rate(1).limit, window_for_rate(1).period) == (1, 1.0)
    half = window_for_rate(1.5)
    assert half.limit == 1 and half.period == pytest.approx(2 / 3)
    group = window_for_rate(20 / 60)  # a group's 20 a minute: one every 3 s, no burst
    assert group.limit == 1 and group.period == pytest.approx(3.0)


async def test_a_chat_waits_for_the_previous_answer_and_the_period_after_it() -> None:
    limiter = FloodLimiter(per_second=30, per_chat_per_second=1, per_group_per_minute=20)
    events: list[tuple[str, float]] = []
    answer = asyncio.Event()

    async def call(name: str, wait_for_answer: bool) -> None:
        async with limiter.slot("42"):
            events.append((f"{name} start", time.monotonic()))
            if wait_for_answer:
                await answer.wait()
            events.append((f"{name} end", time.monotonic()))

    first = asyncio.create_task(call("a", True))
    second = asyncio.create_task(call("b", False))
    await asyncio.sleep(1.2)  # past the chat's second: b is still held while a has no answer
    assert [name for name, _ in events] == ["a start"]
    answer.set()
    await asyncio.wait_for(asyncio.gather(first, second), 30)
    times = dict(events)
    assert [name for name, _ in events] == ["a start", "a end", "b start", "b end"]
    assert times["b start"] - times["a end"] >= 1.0 - 1e-3


async def test_other_chats_are_not_held_back_by_a_busy_one() -> None:
    limiter = FloodLimiter(per_second=30, per_chat_per_second=1, per_group_per_minute=20)
    async with limiter.slot("1"):
        pass
    started = []
    for chat in ("2", "3", "-100"):
        async with limiter.slot(chat):
            started.append(chat)
    assert started == ["2", "3", "-100"]


async def test_a_cancelled_wait_holds_no_place() -> None:
    limiter = FloodLimiter(per_second=1, per_chat_per_second=20, per_group_per_minute=20)
    async with limiter.slot("1"):  # takes the bot's only place for a second
        pass
    waiting = asyncio.create_task(limiter.slot("2").__aenter__())
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert limiter._chats["2"].in_flight == 0  # a waiting call holds no chat place
    async with asyncio.timeout(5):  # the bot's place, once free, goes to the next call
        async with limiter.slot("2"):
            pass


async def test_a_paced_chat_holds_no_bot_place_and_its_older_call_goes_first() -> None:
    """One bot place a second: while chat "hot" waits for its second, newer calls to
    other chats wait too; when the place frees, the oldest call (by order) takes it."""
    limiter = FloodLimiter(per_second=1, per_chat_per_second=1, per_group_per_minute=20)
    started: list[str] = []

    async def call(chat: str, order: str) -> None:
        async with limiter.slot(chat, order=order):
            started.append(chat)

    await call("hot", "01")
    tasks = [asyncio.create_task(call(chat, order))
             for chat, order in (("cold-a", "03"), ("hot", "02"), ("cold-b", "04"))]
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert started == ["hot", "hot", "cold-a", "cold-b"]


def _update(chat: int, update_id: int) -> dict[str, Any]:
    user = {"id": chat, "is_bot": False, "first_name": f"C{chat}"}
    return {"update_id": update_id, "message": {
        "message_id": 1, "date": 1767261600, "chat": {"id": chat, "type": "private"},
        "from": user, "text": "Hello?"}}


async def test_a_chat_waiting_for_its_limit_holds_back_no_other_customer(
        make_telegram_hub: Any, bot_api: FakeBotApi) -> None:
    """Two replies to one chat (1/s) and one to another: the other customer's reply goes
    out while the first chat's second reply waits for its second."""
    hub: TelegramHub = await make_telegram_hub(max_per_chat_per_second=1)
    auth, items = await _customers_writing_in(hub, range(7001, 7009))
    busy = items[0]["id"]
    # One in another delivery lane (lanes are chosen by conversation, crc32 of its id).
    other = next(c["id"] for c in items[1:]
                 if zlib.crc32(c["id"].encode()) % DELIVERY_LANES
                 != zlib.crc32(busy.encode()) % DELIVERY_LANES)
    for key, conversation, text in (("1", busy, "first"), ("2", busy, "second"),
                                    ("3", other, "other")):
        resp = await hub.http.post(f"/api/v1/conversations/{conversation}/messages",
                                   json={"text": text},
                                   headers={**auth, "Idempotency-Key": key})
        assert resp.status == 201, await resp.text()
    deadline = time.monotonic() + 60
    while len(bot_api.called("sendMessage")) < 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert [c.params["text"] for c in bot_api.called("sendMessage")] == \
        ["first", "other", "second"]


async def test_a_busy_chats_replies_go_out_each_second_ahead_of_newer_replies(
        make_telegram_hub: Any, bot_api: FakeBotApi) -> None:
    """Three replies to one chat, then four to other chats, with the bot at two a second:
    each of the busy chat's replies goes out in the first second its chat allows (it was
    queued before the others), not behind the newer replies that waited for the bot
    meanwhile, so its last one is not left trailing the rest."""
    hub: TelegramHub = await make_telegram_hub(max_per_second=2, max_per_chat_per_second=1)
    auth, items = await _customers_writing_in(hub, range(7101, 7121))

    def lane(conversation: str) -> int:
        return zlib.crc32(conversation.encode()) % DELIVERY_LANES

    busy = items[0]["id"]
    others: dict[int, str] = {}  # each in a lane of its own, none in the busy chat's
    for item in items[1:]:
        if lane(item["id"]) != lane(busy):
            others.setdefault(lane(item["id"]), item["id"])
    cold = list(others.values())[:4]
    assert len(cold) == 4
    queue = [(busy, "hot 1"), (busy, "hot 2"), (busy, "hot 3")] + \
        [(conversation, f"cold {n}") for n, conversation in enumerate(cold, 1)]
    for key, (conversation, text) in enumerate(queue):
        resp = await hub.http.post(f"/api/v1/conversations/{conversation}/messages",
                                   json={"text": text},
                                   headers={**auth, "Idempotency-Key": str(key)})
        assert resp.status == 201, await resp.text()
    deadline = time.monotonic() + 60
    while len(bot_api.called("sendMessage")) < len(queue) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    sent = [c.params["text"] for c in bot_api.called("sendMessage")]
    # Two a second: each second's pair holds the busy chat's next reply.
    assert [set(sent[i:i + 2]) for i in range(0, 6, 2)] + [set(sent[6:])] == \
        [{"hot 1", "cold 1"}, {"hot 2", "cold 2"}, {"hot 3", "cold 3"}, {"cold 4"}]


async def _customers_writing_in(hub: TelegramHub, chats: range) -> tuple[dict[str, str], list[Any]]:
    """A customer writes in from each chat; returns an admin's auth header and the
    conversations as the API lists them."""
    for n, chat in enumerate(chats):
        assert (await hub.post(_update(chat, n + 1))).status == 200
    token = await create_token(hub.hub.db, "eve", "admin")
    auth = {"Authorization": f"Bearer {token}"}
    items = (await (await hub.http.get("/api/v1/conversations?limit=50",
                                       headers=auth)).json())["items"]
    return auth, items
