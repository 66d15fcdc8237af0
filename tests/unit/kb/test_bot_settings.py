"""hub.yaml's `bot:` section: defaults, and a typo in a channel id is an error."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from omnihub.hub.settings import HubSettings

CHANNEL = {"id": "shop", "type": "api", "secret": "0123456789abcdef0123456789"}


def test_off_by_default() -> None:
    assert not HubSettings().bot.enabled
    assert HubSettings(bot=None).bot.answer_threshold == 0.45  # type: ignore[arg-type]


def test_channels_must_exist() -> None:
    assert HubSettings(channels=[CHANNEL], bot={"channels": ["shop"]}).bot.enabled  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="bot.channels names unknown channel shpo"):
        HubSettings(channels=[CHANNEL], bot={"channels": ["shpo"]})  # type: ignore[arg-type]


def test_unknown_keys_are_errors() -> None:
    with pytest.raises(ValidationError, match="treshold"):
        HubSettings(bot={"treshold": 0.5})  # type: ignore[arg-type]
