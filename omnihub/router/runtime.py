"""The routing version in force, and its hot reload: a valid edit of routing.yaml takes
effect without a restart; an invalid one is refused and the running version stays.

Every consumer (ingest, the assigner, the SLA worker, the inbox's scopes) reads
`RoutingState.router` at the moment it decides, so a swap is one attribute assignment
and a decision never mixes two versions. The file is followed by hub/file_watch.py, which
watches its directory: editors and config management rename a new file over it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from omnihub.hub.file_watch import watching_file
from omnihub.hub.yamlconfig import ConfigError, LocatedError
from omnihub.router.config import RoutingConfig
from omnihub.router.engine import CompiledRouter, compile_router
from omnihub.router.load import load_routing

__all__ = ["ReloadError", "RoutingMetrics", "RoutingState", "RoutingVersion"]

log = logging.getLogger("omnihub.router")


def utcnow() -> datetime:
    return datetime.now(UTC)


class RoutingMetrics(Protocol):
    """What the state reports to Prometheus (omnihub.hub.metrics.Metrics provides it)."""

    def routing_loaded(self, version: RoutingVersion) -> None: ...

    def routing_rejected(self) -> None: ...


@dataclass(frozen=True, slots=True)
class RoutingVersion:
    """One loaded routing.yaml: the compiled router and where and when it came from.

    `router is None` is the hub without routing: no groups, priority from nothing.
    """

    router: CompiledRouter | None
    path: Path | None
    sha256: str | None
    loaded_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": None if self.path is None else str(self.path),
            "sha256": self.sha256,
            "loaded_at": self.loaded_at.isoformat(),
            "rules": 0 if self.router is None else self.router.rule_count,
            "groups": [] if self.router is None else sorted(self.router.groups),
        }


@dataclass(frozen=True, slots=True)
class ReloadError:
    """Why the latest version of the file was refused: every located problem."""

    sha256: str | None
    at: datetime
    errors: tuple[LocatedError, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "at": self.at.isoformat(),
            "errors": [
                {"file": e.file, "line": e.line, "column": e.column, "key": e.key_path,
                 "message": e.message, "text": str(e)}
                for e in self.errors
            ],
        }


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class RoutingState:
    """The routing version in force; `reload()` swaps it only for a valid file."""

    def __init__(self, path: Path | str | None, *, metrics: RoutingMetrics | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        """Load `path` now (ConfigError if it is invalid: a hub must not start on a bad file)."""
        self.path = None if path is None else Path(path)
        self.metrics = metrics
        self.clock = clock
        self.last_error: ReloadError | None = None
        self._listeners: list[Callable[[RoutingVersion], object]] = []
        if self.path is None:
            self.current = RoutingVersion(None, None, None, clock())
        else:
            sha = _digest(self.path)
            self.current = RoutingVersion(compile_router(load_routing(self.path)), self.path,
                                          sha, clock())
            log.info("routing %s in force (sha256 %s)", self.path, _short(sha))
        if metrics is not None:
            metrics.routing_loaded(self.current)

    @property
    def router(self) -> CompiledRouter | None:
        return self.current.router

    @property
    def config(self) -> RoutingConfig | None:
        router = self.current.router
        return None if router is None else router.config

    def on_change(self, listener: Callable[[RoutingVersion], object]) -> None:
        """Call `listener(version)` after each successful swap."""
        self._listeners.append(listener)

    def reload(self) -> bool:
        """Read the file again; True when a new valid version took effect.

        An unchanged file (same hash as the version in force, or as the version last
        refused) does nothing. An invalid one leaves the running
        version in force and is reported in the log, the metrics and `last_error`.
        """
        if self.path is None:
            return False
        sha = _digest(self.path)
        if sha is not None and sha == self.current.sha256:
            return False
        if sha is not None and self.last_error is not None and sha == self.last_error.sha256:
            return False  # this very file was refused already (the watcher and a manual
            # reload both see one edit): report and count it once
        try:
            router = compile_router(load_routing(self.path))
        except ConfigError as exc:
            self.last_error = ReloadError(sha, self.clock(), tuple(exc.errors))
            if self.metrics is not None:
                self.metrics.routing_rejected()
            log.error("routing %s (sha256 %s) rejected; version %s stays in force:\n%s",
                      self.path, _short(sha), _short(self.current.sha256), exc)
            return False
        except Exception as exc:  # a compile failure the checks missed must not kill the watcher
            self.last_error = ReloadError(sha, self.clock(), (
                LocatedError(str(self.path), 0, 0, "", f"{type(exc).__name__}: {exc}"),))
            if self.metrics is not None:
                self.metrics.routing_rejected()
            log.exception("routing %s could not be compiled; the running version stays", self.path)
            return False
        self.current = RoutingVersion(router, self.path, sha, self.clock())
        self.last_error = None
        if self.metrics is not None:
            self.metrics.routing_loaded(self.current)
        log.info("routing %s reloaded: sha256 %s in force (%d rules)", self.path, _short(sha),
                 router.rule_count)
        for listener in self._listeners:
            listener(self.current)
        return True

    def to_dict(self) -> dict[str, Any]:
        """The version in force and the last refused one, for GET /api/v1/routing."""
        return {"version": self.current.to_dict(),
                "last_error": None if self.last_error is None else self.last_error.to_dict()}

    @contextlib.asynccontextmanager
    async def watching(self, *, debounce_ms: int = 300) -> AsyncIterator[None]:
        """Reload on every change of the file for the duration of the block."""
        if self.path is None:
            yield
            return
        async with watching_file(self.path, self.reload, name="routing-watch",
                                 debounce_ms=debounce_ms):
            yield


def _short(sha: str | None) -> str:
    return "-" if sha is None else sha[:12]
