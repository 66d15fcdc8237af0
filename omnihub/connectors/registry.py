"""The one place built-in connectors are listed; third-party ones come in by entry point."""

from __future__ import annotations

from importlib.metadata import entry_points

from omnihub.connectors.base import Connector

BUILTIN: tuple[str, ...] = (
    "omnihub.connectors.api.connector:ApiConnector",
    "omnihub.connectors.telegram.connector:TelegramConnector",
    "omnihub.connectors.slack.connector:SlackConnector",
    "omnihub.connectors.webchat.connector:WebchatConnector",
    "omnihub.connectors.twilio.voice:TwilioVoiceConnector",
    "omnihub.connectors.twilio.messaging:TwilioSmsConnector",
    "omnihub.connectors.twilio.messaging:TwilioWhatsappConnector",
    "omnihub.connectors.email.connector:EmailConnector",
)


def _load(spec: str) -> type[Connector]:
    module_name, _, attr = spec.partition(":")
    module = __import__(module_name, fromlist=[attr])
    return getattr(module, attr)  # type: ignore[no-any-return]


def connector_types() -> dict[str, type[Connector]]:
    """All known connector classes by their `type` name."""
    found: dict[str, type[Connector]] = {}
    for spec in BUILTIN:
        cls = _load(spec)
        found[cls.type] = cls
    for ep in entry_points(group="omnihub.connectors"):
        cls = ep.load()
        found.setdefault(cls.type, cls)
    return found
