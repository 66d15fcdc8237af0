"""The event bus: in-process by default, Redis Streams when several processes share work."""

from __future__ import annotations

from omnihub.hub.bus.base import (
    Bus,
    BusClosed,
    BusError,
    BusUnavailable,
    Envelope,
    Handler,
    Listener,
    ListenerLagged,
    UnsupportedBusURL,
)
from omnihub.hub.bus.memory import MemoryBus

__all__ = [
    "Bus",
    "BusClosed",
    "BusError",
    "BusUnavailable",
    "Envelope",
    "Handler",
    "Listener",
    "ListenerLagged",
    "MemoryBus",
    "UnsupportedBusURL",
    "make_bus",
]


def make_bus(url: str, *, prefix: str = "omnihub", **options: object) -> Bus:
    """Build the bus a URL names: "memory://" in-process, "redis://…"/"rediss://…" Redis Streams."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme == "memory":
        return MemoryBus(**options)  # type: ignore[arg-type]
    if scheme in ("redis", "rediss", "unix"):
        from omnihub.hub.bus.redis_streams import RedisStreamsBus

        return RedisStreamsBus(url, prefix=prefix, **options)  # type: ignore[arg-type]
    raise UnsupportedBusURL(f"unsupported bus.url {url!r}; use memory:// or redis://host:port/db")
