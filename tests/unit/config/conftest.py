"""Two small test connectors, registered in place of the real ones, so the settings
tests do not depend on which connectors are installed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from omnihub.connectors import registry
from omnihub.connectors.base import (
    ChannelSettings,
    Connector,
    OutboundMessage,
    ParsedWebhook,
    SendReceipt,
    WebhookRequest,
)

class RetrySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(default=5, ge=1)
    delay_seconds: float = 1.0


class DeskSettings(ChannelSettings):
    type: Literal["desk"] = "desk"
    token: str = Field(min_length=8)
    note: str = ""
    retry: RetrySettings = Field(default_factory=RetrySettings)


class RelaySettings(ChannelSettings):
    type: Literal["relay"] = "relay"


class DeskConnector(Connector):
    type: ClassVar[str] = "desk"
    settings_model = DeskSettings
    identity_kind: ClassVar[str] = "desk"

    async def parse_webhook(self, request: WebhookRequest) -> ParsedWebhook:
        return ParsedWebhook()

    async def send(self, message: OutboundMessage) -> SendReceipt:
        return SendReceipt(external_id=None)


class RelayConnector(DeskConnector):
    type: ClassVar[str] = "relay"
    settings_model = RelaySettings


@pytest.fixture(autouse=True)
def test_connectors(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(registry, "connector_types",
                        lambda: {"desk": DeskConnector, "relay": RelayConnector})
    yield
