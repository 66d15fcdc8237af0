"""hub.yaml as pydantic models: every key has a default, every typo is an error.

Relative paths (`data_dir`, `media.dir`, `routing`, the SQLite file of the default
`store.url`) are kept as written and so resolve against the current working directory of
the process, the way `make run` and `omnihub serve` are started from the project root.
Defaults that depend on another key are derived at validation time: `server.public_url`
from host and port, `store.url` and `media.dir` from `data_dir`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WrapValidator,
    model_validator,
    ValidationInfo,
    field_validator,
)

from omnihub.connectors.base import ChannelSettings
from omnihub.hub.channel_config import validate_channels
from omnihub.hub.monitoring.settings import AlertSettings, MonitoringSettings
from omnihub.hub.backup_settings import BackupSettings
from omnihub.hub.yamlconfig import load_yaml_model
from omnihub.profiles.settings import ProfileSettings
from omnihub.bot.settings import BotSettings

__all__ = [
    "BusSettings",
    "HubSettings",
    "InboxSettings",
    "LimitSettings",
    "MediaSettings",
    "OutboxSettings",
    "SecuritySettings",
    "ServerSettings",
    "StoreSettings",
    "WebhookRetrySettings",
    "WebhookSubscription",
    "default_settings",
    "load_hub_settings",
]

MiB = 1024 * 1024


class Section(BaseModel):
    """Base of every hub.yaml section: unknown keys are errors, not silent defaults."""

    model_config = ConfigDict(extra="forbid")


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
    return value


HttpUrlText = Annotated[str, AfterValidator(_http_url)]


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    #: the URL providers and agents reach this hub at; default http://{host}:{port}
    public_url: HttpUrlText = Field(default="", validate_default=True)

    @field_validator("public_url", mode="before")
    @classmethod
    def _default_public_url(cls, value: Any, info: ValidationInfo) -> Any:
        """Derive from host and port when unset, so webhook URLs printed at start work."""
        if value not in (None, ""):
            return value.rstrip("/") if isinstance(value, str) else value
        host = info.data.get("host", "127.0.0.1")
        port = info.data.get("port", 8080)
        if host in ("0.0.0.0", "::", ""):  # listening everywhere: loopback reaches it
            host = "127.0.0.1"
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _store_url(value: str) -> str:
    """Reject URLs the store cannot open now, at check time, rather than at start-up."""
    scheme = value.partition(":")[0].partition("+")[0].lower()
    if scheme not in ("sqlite", "postgresql", "postgres", "mysql", "mariadb") or "://" not in value:
        raise ValueError("expected sqlite:///path/to/file.db, postgresql://… or mysql://…")
    if scheme == "sqlite" and value.rstrip("/").endswith(":"):
        raise ValueError("a SQLite store needs a file path: sqlite:///data/omnihub.db")
    return value


class StoreSettings(Section):
    #: default sqlite:///<data_dir>/omnihub.db
    url: Annotated[str, AfterValidator(_store_url)]


class BusSettings(Section):
    #: memory:// (in-process, one hub) or redis://host:6379/0 (Redis Streams, many hubs)
    url: str = Field(default="memory://", pattern=r"^(memory://|rediss?://\S*|unix://\S+)$")
    stream_prefix: str = Field(default="omnihub", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")


class MediaSettings(Section):
    #: default <data_dir>/media
    dir: Path
    max_upload_bytes: int = Field(default=10 * MiB, gt=0)


def _pii_key(value: str) -> str:
    """A key is 32 random bytes in base64 (standard or URL-safe alphabet)."""
    try:
        raw = base64.b64decode(value.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValueError(
            "expected 32 random bytes in base64, e.g. from: python -c 'import base64, os; "
            "print(base64.urlsafe_b64encode(os.urandom(32)).decode())'")
    return value


PiiKey = Annotated[str, AfterValidator(_pii_key)]


class SecuritySettings(Section):
    #: key for contact data at rest; None: `serve` generates one into data_dir
    pii_key: PiiKey | None = None
    #: earlier keys, still accepted for reading while data is re-encrypted
    pii_old_keys: list[PiiKey] = Field(default_factory=list)

    @field_validator("pii_key", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        """`pii_key: ${OMNIHUB_PII_KEY:-}` with the variable unset means "no key"."""
        return None if value == "" else value


class RateSettings(Section):
    """A token bucket per client address: `per_second` steady, `burst` at once; 0 is off."""

    per_second: float = Field(default=0.0, ge=0)
    burst: int = Field(default=100, ge=1)


class RateLimitSettings(Section):
    """Per-client limits on the public endpoints (hub/rate_limit.py); 429 + Retry-After."""

    #: provider webhooks: off by default (a provider is one client for all its traffic)
    webhooks: RateSettings = Field(default_factory=RateSettings)
    #: web chat visitors' calls (send, poll, upload, socket): on by default
    webchat: RateSettings = Field(
        default_factory=lambda: RateSettings(per_second=20.0, burst=100))
    #: behind a reverse proxy, the header whose last value is the client (X-Forwarded-For)
    client_ip_header: str | None = None


class LimitSettings(Section):
    max_body_bytes: int = Field(default=MiB, gt=0)
    max_text_bytes: int = Field(default=64 * 1024, gt=0)
    rate: RateLimitSettings = Field(default_factory=RateLimitSettings)


class OutboxSettings(Section):
    max_attempts: int = Field(default=12, ge=1)
    backoff_base_seconds: float = Field(default=1.0, gt=0)
    backoff_max_seconds: float = Field(default=3600.0, gt=0)
    dead_after_seconds: float = Field(default=86400.0, gt=0)

    @model_validator(mode="after")
    def _backoff_order(self) -> OutboxSettings:
        if self.backoff_max_seconds < self.backoff_base_seconds:
            raise ValueError("backoff_max_seconds must not be below backoff_base_seconds")
        return self


_EVENT_PATTERN = re.compile(r"\*|[a-z][a-z_]*(\.[a-z][a-z_]*)*(\.\*)?")


def _event_pattern(value: str) -> str:
    if not _EVENT_PATTERN.fullmatch(value):
        raise ValueError(f"expected an event type like 'message.received', "
                         f"'message.*' or '*', got {value!r}")
    return value


#: an event type like 'message.received', a family like 'message.*', or '*'
EventPattern = Annotated[str, AfterValidator(_event_pattern)]


class WebhookSubscription(Section):
    """An agent system that receives the hub's signed events."""

    url: HttpUrlText
    secret: str = Field(min_length=16)
    events: list[Annotated[str, AfterValidator(_event_pattern)]] = Field(
        default_factory=lambda: ["*"], min_length=1)


class WebhookRetrySettings(Section):
    """How long outbound webhooks keep trying a receiver that is down: at least a day."""

    backoff_base_seconds: float = Field(default=2.0, gt=0)
    backoff_max_seconds: float = Field(default=900.0, gt=0)
    dead_after_seconds: float = Field(default=2 * 86400.0, ge=86400)
    #: how often due retries are looked for
    poll_seconds: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _backoff_order(self) -> WebhookRetrySettings:
        if self.backoff_max_seconds < self.backoff_base_seconds:
            raise ValueError("backoff_max_seconds must not be below backoff_base_seconds")
        return self


class CsatSettings(Section):
    """The satisfaction survey sent when a conversation is closed (store/csat.py)."""

    enabled: bool = True
    question: str = Field(default="How satisfied were you? Reply 1–5", min_length=1,
                          max_length=1000)
    #: an answer counts when it arrives within this many days of the survey
    answer_window_days: float = Field(default=7.0, gt=0, le=365)


class InboxSettings(Section):
    webhooks: list[WebhookSubscription] = Field(default_factory=list)
    webhook_retry: WebhookRetrySettings = Field(default_factory=WebhookRetrySettings)
    #: agents may edit or recall their own messages for this long after writing them
    edit_window_seconds: float = Field(default=900.0, ge=0)
    #: and edit each message at most this many times
    max_edits: int = Field(default=5, ge=0)
    #: seconds between the SSE stream's keep-alive comments
    sse_heartbeat_seconds: float = Field(default=15.0, gt=0)
    csat: CsatSettings = Field(default_factory=CsatSettings)


Channels = Annotated[list[ChannelSettings], WrapValidator(validate_channels)]


class HubSettings(Section):
    """The whole of hub.yaml. `channels` holds each connector's own settings model."""

    server: ServerSettings = Field(default_factory=ServerSettings)
    data_dir: Path = Path("data")
    # default_factory=dict: validated, so the data_dir-derived defaults below apply
    store: StoreSettings = Field(default_factory=dict, validate_default=True)  # type: ignore
    bus: BusSettings = Field(default_factory=BusSettings)
    media: MediaSettings = Field(default_factory=dict, validate_default=True)  # type: ignore
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    #: routing.yaml; None: every conversation goes to the default group
    routing: Path | None = None
    limits: LimitSettings = Field(default_factory=LimitSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    inbox: InboxSettings = Field(default_factory=InboxSettings)
    channels: Channels = Field(default_factory=list)
    #: the metrics collector (omnihub/hub/monitoring/)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    #: alert rules and who is told when one fires (omnihub/hub/monitoring/settings.py)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    #: the daily backup of `serve`, backup retention and conversation retention
    backup: BackupSettings = Field(default_factory=BackupSettings)
    #: customer profiles: tag rules file, shop webhook (omnihub/profiles/settings.py)
    profiles: ProfileSettings = Field(default_factory=ProfileSettings)
    #: the FAQ bot: which conversations it takes first, thresholds (omnihub/bot/settings.py)
    bot: BotSettings = Field(default_factory=BotSettings)

    @field_validator("server", "bus", "security", "limits", "outbox", "inbox", "channels",
                     "monitoring", "alerts", "profiles", "bot", mode="before")
    @classmethod
    def _empty_section(cls, value: Any, info: ValidationInfo) -> Any:
        """`server:` with nothing under it is an empty section, not an error."""
        if value is None:
            return [] if info.field_name == "channels" else {}
        return value

    @field_validator("store", mode="before")
    @classmethod
    def _default_store_url(cls, value: Any, info: ValidationInfo) -> Any:
        value = {} if value is None else value
        if isinstance(value, Mapping) and "url" not in value:
            data_dir = info.data.get("data_dir", Path("data"))
            return {**value, "url": f"sqlite:///{(data_dir / 'omnihub.db').as_posix()}"}
        return value

    @field_validator("media", mode="before")
    @classmethod
    def _default_media_dir(cls, value: Any, info: ValidationInfo) -> Any:
        value = {} if value is None else value
        if isinstance(value, Mapping) and "dir" not in value:
            return {**value, "dir": info.data.get("data_dir", Path("data")) / "media"}
        return value

    @field_validator("bot")
    @classmethod
    def _bot_channels_exist(cls, value: BotSettings, info: ValidationInfo) -> BotSettings:
        """A typo in bot.channels would silently keep the bot off that channel."""
        if "channels" not in info.data:  # channels failed on their own
            return value
        known = {c.id for c in info.data["channels"]}
        unknown = [c for c in value.channels if c not in known]
        if unknown:
            raise ValueError(f"bot.channels names unknown channel {', '.join(unknown)}; "
                             f"configured: {', '.join(sorted(known)) or 'none'}")
        return value

    def channel(self, channel_id: str) -> ChannelSettings | None:
        """The settings of one configured channel, or None."""
        return next((c for c in self.channels if c.id == channel_id), None)


def load_hub_settings(path: Path | str) -> HubSettings:
    """Load hub.yaml; raise yamlconfig.ConfigError with every problem located."""
    return load_yaml_model(path, HubSettings)


def default_settings(data_dir: Path | str = "data") -> HubSettings:
    """The embedded defaults, for a start with no config file: SQLite and media under
    `data_dir`, in-process bus, http://127.0.0.1:8080, no channels configured."""
    return HubSettings.model_validate({"data_dir": data_dir})
