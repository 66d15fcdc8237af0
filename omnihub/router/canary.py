"""Staged rollout of a routing.yaml: a candidate routes a sticky share of new conversations.

`omnihub routing canary NEW.yaml --percent 10` checks the candidate, copies it into the
data directory (`routing.canary.yaml`: what was approved is what runs, whatever happens to
NEW.yaml afterwards) and writes `routing-canary.json` beside it. A running hub watches
that file the way it watches routing.yaml and picks the change up without a restart.

Which customers take the candidate: the first 8 bytes of sha256(customer id), modulo
10,000, below `percent` x 100. The same customer always lands in the same bucket, so all
their new conversations follow one version, and raising the percentage keeps everyone who
already had the candidate. `promote` writes the candidate over the stable routing.yaml
(the hub's hot reload takes it) and ends the canary; `rollback` just ends it.

The candidate decides a new conversation's routing (category, group, priority, tags,
deadlines); agents, groups' assignment and escalation keep coming from the stable file.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from omnihub.hub.file_watch import watching_file
from omnihub.hub.yamlconfig import ConfigError, LocatedError
from omnihub.router.engine import compile_router
from omnihub.router.load import load_routing
from omnihub.router.runtime import ReloadError, RoutingVersion

__all__ = ["BUCKETS", "Canary", "CanaryState", "bucket", "end_canary", "promote_canary",
           "start_canary"]

log = logging.getLogger("omnihub.router")

STATE_FILE = "routing-canary.json"
CANDIDATE_FILE = "routing.canary.yaml"
BUCKETS = 10_000


def utcnow() -> datetime:
    return datetime.now(UTC)


def bucket(customer_id: str) -> int:
    """The customer's fixed bucket in [0, 10000)."""
    digest = hashlib.sha256(customer_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


class CanaryFile(BaseModel):
    """routing-canary.json."""

    model_config = ConfigDict(extra="forbid")

    source: str  # the file the operator gave, for people reading the status
    sha256: str
    percent: float = Field(gt=0, lt=100)
    started_at: datetime


@dataclass(frozen=True, slots=True)
class Canary:
    version: RoutingVersion
    percent: float
    started_at: datetime
    source: str

    def takes(self, customer_id: str) -> bool:
        return bucket(customer_id) < round(self.percent * BUCKETS / 100)

    def to_dict(self) -> dict[str, Any]:
        return {**self.version.to_dict(), "percent": self.percent,
                "started_at": self.started_at.isoformat(), "source": self.source}


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


class CanaryState:
    """The canary in force for one hub, if any; `reload()` follows routing-canary.json."""

    def __init__(self, data_dir: Path | str, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.dir = Path(data_dir)
        self.state_path = self.dir / STATE_FILE
        self.clock = clock
        self.current: Canary | None = None
        self.last_error: ReloadError | None = None
        self._seen: bytes | None = None
        self.reload()

    def pick(self, customer_id: str | None) -> Canary | None:
        """The canary when this customer takes it, else None (the stable version)."""
        canary = self.current
        if canary is None or customer_id is None or not canary.takes(customer_id):
            return None
        return canary

    def reload(self) -> bool:
        """Read the state file again; True when the canary changed (started, moved, ended).

        A state whose candidate no longer loads leaves the previous canary (or none) in
        force and is reported in the log and `last_error`, like a refused routing.yaml.
        """
        raw = _read(self.state_path)
        if raw == self._seen:
            return False
        self._seen = raw
        if raw is None:
            if self.current is not None:
                log.info("routing canary %s ended", self.current.version.sha256)
            changed, self.current, self.last_error = self.current is not None, None, None
            return changed
        sha = hashlib.sha256(raw).hexdigest()
        try:
            state = CanaryFile.model_validate(orjson.loads(raw))
            candidate = self.dir / CANDIDATE_FILE
            body = candidate.read_bytes()
            if hashlib.sha256(body).hexdigest() != state.sha256:
                raise ValueError(f"{candidate} does not match the sha256 in {STATE_FILE}")
            router = compile_router(load_routing(candidate))
        except ConfigError as exc:
            return self._refuse(sha, tuple(exc.errors))
        except (OSError, ValueError, ValidationError, orjson.JSONDecodeError) as exc:
            return self._refuse(sha, (LocatedError(str(self.state_path), 0, 0, "", str(exc)),))
        version = RoutingVersion(router, self.dir / CANDIDATE_FILE, state.sha256, self.clock())
        self.current = Canary(version, state.percent, state.started_at, state.source)
        self.last_error = None
        log.info("routing canary %s in force for %.2f%% of customers",
                 state.sha256[:12], state.percent)
        return True

    def _refuse(self, sha: str, errors: tuple[LocatedError, ...]) -> bool:
        self.last_error = ReloadError(sha, self.clock(), errors)
        log.error("routing canary state refused; %s stays:\n%s",
                  "the running canary" if self.current else "no canary",
                  "\n".join(str(e) for e in errors))
        return False

    def to_dict(self) -> dict[str, Any] | None:
        if self.current is None and self.last_error is None:
            return None
        return {"version": None if self.current is None else self.current.to_dict(),
                "last_error": None if self.last_error is None else self.last_error.to_dict()}

    @contextlib.asynccontextmanager
    async def watching(self, *, debounce_ms: int = 300) -> AsyncIterator[None]:
        """Reload on every change of the state file for the duration of the block."""
        self.dir.mkdir(parents=True, exist_ok=True)
        async with watching_file(self.state_path, self.reload, name="canary-watch",
                                 debounce_ms=debounce_ms):
            yield


# ------------------------------------------------------------ what the commands do


def _write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same directory and rename it over `path`, so a
    watcher never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def start_canary(data_dir: Path, candidate: Path, percent: float, *,
                 now: datetime | None = None) -> CanaryFile:
    """Check `candidate` (ConfigError, located, when invalid) and put it in force for
    `percent` % of customers; a running canary is replaced (e.g. to raise the share)."""
    if not 0 < percent < 100:
        raise ValueError("percent must be above 0 and below 100")
    body = candidate.read_bytes()
    compile_router(load_routing(candidate))
    state = CanaryFile(source=str(candidate), sha256=hashlib.sha256(body).hexdigest(),
                       percent=percent, started_at=now or utcnow())
    current = _read(Path(data_dir) / STATE_FILE)
    if current is not None:  # keep the start of a canary whose candidate did not change
        with contextlib.suppress(ValueError, ValidationError, orjson.JSONDecodeError):
            previous = CanaryFile.model_validate(orjson.loads(current))
            if previous.sha256 == state.sha256:
                state.started_at = previous.started_at
    _write_atomically(Path(data_dir) / CANDIDATE_FILE, body)
    _write_atomically(Path(data_dir) / STATE_FILE, orjson.dumps(
        state.model_dump(mode="json"), option=orjson.OPT_INDENT_2))
    return state


def current_canary(data_dir: Path) -> CanaryFile | None:
    raw = _read(Path(data_dir) / STATE_FILE)
    return None if raw is None else CanaryFile.model_validate(orjson.loads(raw))


def promote_canary(data_dir: Path, stable: Path) -> CanaryFile:
    """Write the candidate over the stable routing.yaml, then end the canary."""
    state = current_canary(data_dir)
    if state is None:
        raise LookupError("no routing canary is running")
    body = (Path(data_dir) / CANDIDATE_FILE).read_bytes()
    if hashlib.sha256(body).hexdigest() != state.sha256:
        raise ValueError(f"{CANDIDATE_FILE} was changed after the canary started; "
                         "start the canary again")
    _write_atomically(stable, body)
    end_canary(data_dir)
    return state


def end_canary(data_dir: Path) -> CanaryFile | None:
    """Stop routing anyone by the candidate (rollback); the state it had, if any."""
    state = None
    with contextlib.suppress(ValueError, ValidationError, orjson.JSONDecodeError):
        state = current_canary(data_dir)
    for name in (STATE_FILE, CANDIDATE_FILE):
        with contextlib.suppress(FileNotFoundError):
            (Path(data_dir) / name).unlink()
    return state
