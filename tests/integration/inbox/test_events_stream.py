"""`GET /api/v1/events`: live events, heartbeats, and an exact resume with Last-Event-ID."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from .conftest import Desk, api_post, open_desk


class SseReader:
    """Reads one SSE response: events as (id, type, payload), and the comments it saw."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self.resp = resp
        self.comments: list[str] = []

    async def next(self, timeout: float = 5.0) -> tuple[int, str, dict[str, Any]]:
        fields: dict[str, str] = {}
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.resp.content.readline()
                assert raw, "stream ended"
                line = raw.decode().rstrip("\r\n")
                if not line:
                    if "data" in fields:
                        return int(fields["id"]), fields["event"], orjson.loads(fields["data"])
                    continue
                if line.startswith(":"):
                    self.comments.append(line)
                    continue
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")

    async def events(self, count: int) -> list[tuple[int, str, dict[str, Any]]]:
        return [await self.next() for _ in range(count)]

    async def quiet(self, seconds: float = 0.5) -> bool:
        """True when no event arrives within `seconds`."""
        try:
            await self.next(timeout=seconds)
        except TimeoutError:
            return True
        return False


async def open_stream(desk: Desk, role: str = "agent", **headers: str) -> SseReader:
    resp = await desk.hub.http.get("/api/v1/events",
                                   headers={**desk.auth[role], **headers})
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    return SseReader(resp)


def text_of(payload: dict[str, Any]) -> str:
    return payload["data"]["parts"][0]["text"]


async def test_live_then_resume_with_last_event_id_gets_exactly_the_missed(desk: Desk) -> None:
    stream = await open_stream(desk)
    await desk.hub.post_message(api_post("m-2", customer="c-1", text="second"))
    seq, type_, payload = await stream.next()
    assert (type_, text_of(payload)) == ("message.received", "second")
    assert payload["type"] == "message.received" and payload["id"]
    stream.resp.close()

    for n in (3, 4, 5):
        await desk.hub.post_message(api_post(f"m-{n}", customer="c-1", text=f"missed {n}"))
    resumed = await open_stream(desk, **{"Last-Event-ID": str(seq)})
    missed = await resumed.events(3)
    assert [text_of(p) for _, _, p in missed] == ["missed 3", "missed 4", "missed 5"]
    assert [s for s, _, _ in missed] == sorted(s for s, _, _ in missed)
    assert all(s > seq for s, _, _ in missed)
    assert await resumed.quiet()  # nothing twice
    await desk.hub.post_message(api_post("m-6", customer="c-1", text="live again"))
    _, _, live = await resumed.next()
    assert text_of(live) == "live again"
    assert await resumed.quiet()
    resumed.resp.close()



async def test_replay_and_live_race_without_gap_or_duplicate(desk: Desk) -> None:
    """Messages keep arriving while a client resumes: each one is seen exactly once."""
    stream = await open_stream(desk, **{"Last-Event-ID": "0"})
    first = await stream.events(2)  # conversation.created, message.received of m-1
    assert [t for _, t, _ in first] == ["conversation.created", "message.received"]

    async def produce() -> None:
        for n in range(20):
            await desk.hub.post_message(api_post(f"r-{n}", customer="c-1", text=f"r{n}"))

    producer = asyncio.create_task(produce())
    late = await open_stream(desk, **{"Last-Event-ID": str(first[-1][0])})
    got = await late.events(20)
    await producer
    assert [text_of(p) for _, _, p in got] == [f"r{n}" for n in range(20)]
    assert await late.quiet()
    stream.resp.close()
    late.resp.close()


async def test_heartbeat_comments(make_hub, make_store_url) -> None:  # type: ignore[no-untyped-def]
    hub = await make_hub(await make_store_url("sqlite"),
                         extra={"inbox": {"sse_heartbeat_seconds": 0.1}})
    desk = await open_desk(hub)
    stream = await open_stream(desk)
    assert await stream.quiet(0.35)
    assert stream.comments and stream.comments[0].startswith(": ping")
    stream.resp.close()


async def test_bad_resume_point_is_422(desk: Desk) -> None:
    for headers, params, field in (({"Last-Event-ID": "abc"}, {}, "Last-Event-ID"),
                                   ({}, {"after": "-1"}, "after")):
        resp = await desk.hub.http.get("/api/v1/events", params=params,
                                       headers={**desk.auth["agent"], **headers})
        assert resp.status == 422 and (await resp.json())["error"]["field"] == field


async def test_stream_is_filtered_to_the_agents_groups(make_hub, make_store_url,
                                                       tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    routing = tmp_path / "routing.yaml"
    routing.write_text(json.dumps({"groups": {"logistics": {"agents": ["ann"]},
                                              "sales": {"agents": ["bob"]}},
                                   "agents": [{"id": "ann"}, {"id": "bob"}]}))
    hub = await make_hub(await make_store_url("sqlite"), extra={"routing": str(routing)})
    desk = await open_desk(hub)
    await desk.ok("POST", f"/api/v1/conversations/{desk.conversation_id}/transfer", "supervisor",
                  json={"group": "sales", "reason": "routing"})
    stream = await open_stream(desk)  # ann: logistics only
    boss = await open_stream(desk, "supervisor")
    await hub.post_message(api_post("m-2", customer="c-1", text="for sales"))
    await hub.post_message(api_post("m-3", customer="c-9", text="unrouted"))
    _, type_, payload = await stream.next()
    assert type_ == "conversation.created"
    _, type_, payload = await stream.next()
    assert text_of(payload) == "unrouted"
    assert await stream.quiet()
    seen = [t for _, t, _ in await boss.events(3)]
    assert seen == ["message.received", "conversation.created", "message.received"]
    # moved into ann's group: she gets the transfer, then its messages
    await desk.ok("POST", f"/api/v1/conversations/{desk.conversation_id}/transfer", "supervisor",
                  json={"group": "logistics", "reason": "parcel"})
    _, type_, _ = await stream.next()
    assert type_ == "conversation.transferred"
    await hub.post_message(api_post("m-4", customer="c-1", text="now logistics"))
    _, _, payload = await stream.next()
    assert text_of(payload) == "now logistics"
    stream.resp.close()
    boss.resp.close()


async def test_shutdown_does_not_wait_for_open_streams(make_hub, make_store_url) -> None:  # type: ignore[no-untyped-def]
    """A stream notices a gone client only at its next heartbeat; shutdown must not wait.

    The stream is held by a client of its own (a browser tab), which stays connected.
    """
    hub = await make_hub(await make_store_url("sqlite"),
                         extra={"inbox": {"sse_heartbeat_seconds": 60}})
    auth = await hub.token("agent")
    async with aiohttp.ClientSession() as browser:
        resp = await browser.get(hub.http.make_url("/api/v1/events"), headers=auth)
        assert resp.status == 200
        started = asyncio.get_running_loop().time()
        await hub.http.close()  # stops the server and the hub while the stream is open
        assert asyncio.get_running_loop().time() - started < 5
        resp.close()
