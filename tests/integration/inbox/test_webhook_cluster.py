"""Two hubs of a cluster (PostgreSQL + Redis Streams): an endpoint added or disabled through
one hub's API is picked up by the other without a restart (README: "within 5 seconds").

Hub A takes the API calls and is stopped before the events that matter, so whatever the
receiver gets was delivered by hub B, which learnt of the change only from the store.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from .conftest import HubClient, api_post, open_desk
from .test_webhook_api import Receiver

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

CONTROL_SECRET = "control-secret-0123456789"


async def until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} (waited {timeout:g} s)")
        await asyncio.sleep(0.05)


def texts(receiver: Receiver) -> list[str]:
    return [event["data"]["parts"][0]["text"] for event in receiver.received]


@pytest.fixture
async def receivers() -> AsyncIterator[tuple[Receiver, Receiver]]:
    """The endpoint under test, and a control endpoint from hub.yaml that gets every event."""
    subject, control = Receiver(), Receiver()
    control.secret = CONTROL_SECRET
    for receiver in (subject, control):
        await receiver.server.start_server()
    yield subject, control
    for receiver in (subject, control):
        await receiver.server.close()


async def test_another_hub_delivers_to_an_added_endpoint_and_stops_when_it_is_disabled(
        make_store_url, make_hub, redis_url: str,  # type: ignore[no-untyped-def]
        receivers: tuple[Receiver, Receiver]) -> None:
    # make_store_url first: its databases are dropped after the hubs have stopped
    subject, control = receivers
    store_url = await make_store_url("postgresql")
    extra: dict[str, Any] = {
        "bus": {"url": redis_url, "stream_prefix": f"t{uuid.uuid4().hex[:10]}"},
        "inbox": {"webhooks": [{"url": control.url, "secret": CONTROL_SECRET,
                                "events": ["message.received"]}]}}
    hub_b: HubClient = await make_hub(store_url, extra=extra)
    assert hub_b.hub.webhooks is not None and hub_b.hub.webhooks.senders == {}

    async def through_hub_a(method: str, path: str, **kw: Any) -> Any:
        """One API call on a hub A started for it, stopped before any event is posted."""
        desk = await open_desk(await make_hub(store_url, extra=extra))
        try:
            return await desk.ok(method, path, "admin", **kw)
        finally:
            await desk.hub.http.close()

    created = await through_hub_a("POST", "/api/v1/webhooks",
                                  json={"url": subject.url, "events": ["message.received"]})
    subject.secret = created["secret"]

    resp = await hub_b.post_message(api_post("b-1", "c-b1", "first on B"))
    assert resp.status == 200, await resp.text()
    await until(lambda: "first on B" in texts(subject), "hub B never delivered the new endpoint")
    assert subject.bad_signatures == 0

    await through_hub_a("PATCH", f"/api/v1/webhooks/{created['id']}", json={"active": False})
    senders = hub_b.hub.webhooks.senders
    await until(lambda: not senders[created["id"]].active, "hub B never saw the endpoint off")
    subject.received.clear()
    control.received.clear()
    resp = await hub_b.post_message(api_post("b-2", "c-b2", "after disabling"))
    assert resp.status == 200, await resp.text()
    await until(lambda: "after disabling" in texts(control), "the control endpoint got nothing")
    await asyncio.sleep(0.5)  # the disabled endpoint's consumer has had its chance
    assert subject.received == []
