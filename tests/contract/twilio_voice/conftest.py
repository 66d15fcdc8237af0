"""Twilio Voice contract fixtures: a REST stand-in, a connector on it, a whole hub."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from voice_support import PUBLIC_URL, FakeTwilio, VoiceHub, channel_config, routing


@pytest.fixture
async def twilio_api(serve_stand_in: Callable[..., Any]) -> FakeTwilio:
    return await serve_stand_in(FakeTwilio())


@pytest.fixture
def make_voice_hub(start_hub: Callable[..., Any], make_store_url: Callable[..., Any],
                   twilio_api: FakeTwilio, tmp_path: Path) -> Callable[..., Any]:
    async def make(*, open_now: bool = True, **channel: Any) -> VoiceHub:
        routing_file = tmp_path / f"routing-{open_now}.yaml"
        routing_file.write_text(json.dumps(routing(open_now=open_now)))
        client = await start_hub({
            "store": {"url": await make_store_url("sqlite")},
            "server": {"public_url": PUBLIC_URL},
            "routing": str(routing_file),
            "channels": [channel_config(twilio_api.url, **channel)],
        })
        return VoiceHub(client)

    return make


@pytest.fixture
async def voice_hub(make_voice_hub: Callable[..., Any]) -> VoiceHub:
    return await make_voice_hub()
