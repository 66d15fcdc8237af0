"""The `backup:` section of hub.yaml: the daily backup of `serve` and conversation retention.

```yaml
backup:
  enabled: true          # a backup a day, taken by one process of the cluster
  at: "03:00"            # time of day, in `timezone`
  timezone: UTC
  dir: data/backups      # default: <data_dir>/backups
  keep_days: 90          # older backup folders are removed after each new backup
  retention:
    enabled: false       # prune finished conversations in the same daily run
    default_days: 90
    channels: {email: 365, shop-app: 30}   # a channel id or a channel type
```
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    from omnihub.store.retention import RetentionPolicy

__all__ = ["BackupSettings", "RetentionSettings"]

_TIME_OF_DAY = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _empty_section(cls, value: Any) -> Any:
        """`retention:` with nothing under it is an empty section, not an error."""
        return {} if value is None else value


class RetentionSettings(_Section):
    """How long resolved and closed conversations are kept (`omnihub prune`)."""

    #: prune in the daily run of `serve`; off by default: deleting customers' history is
    #: a decision for the operator, not a default (`omnihub prune` works either way)
    enabled: bool = False
    default_days: int = Field(default=90, ge=1)
    #: channel id or channel type -> days; an id wins over a type of the same name
    channels: dict[str, int] = Field(default_factory=dict)

    @field_validator("channels")
    @classmethod
    def _positive(cls, value: dict[str, int]) -> dict[str, int]:
        for key, days in value.items():
            if days < 1:
                raise ValueError(f"{key}: days must be at least 1, got {days}")
        return value

    def policy(self, default: timedelta | None = None) -> RetentionPolicy:
        """The policy to prune with; `default` (from --older-than) replaces default_days."""
        from omnihub.store.retention import RetentionPolicy

        return RetentionPolicy(
            default=default or timedelta(days=self.default_days),
            channels={key: timedelta(days=days) for key, days in self.channels.items()})


class BackupSettings(_Section):
    """The daily backup that `omnihub serve` takes, and where backups go."""

    enabled: bool = True
    at: time = time(3, 0)
    timezone: str = "UTC"
    #: None: <data_dir>/backups
    dir: Path | None = None
    keep_days: int = Field(default=90, ge=1)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    @field_validator("at", mode="before")
    @classmethod
    def _time_of_day(cls, value: Any) -> Any:
        """"03:00" (24-hour clock); YAML may also hand over minutes since midnight."""
        if isinstance(value, int) and not isinstance(value, bool):  # YAML 1.1 sexagesimal
            value = f"{value // 60}:{value % 60:02d}"
        if isinstance(value, str):
            match = _TIME_OF_DAY.fullmatch(value.strip())
            if not match:
                raise ValueError(f"expected a time of day like \"03:00\", got {value!r}")
            return time(int(match[1]), int(match[2]))
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as "
                             "Europe/Berlin or Asia/Shanghai)") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def folder(self, data_dir: Path) -> Path:
        """Where backups go: `dir`, else <data_dir>/backups."""
        return self.dir if self.dir is not None else data_dir / "backups"
