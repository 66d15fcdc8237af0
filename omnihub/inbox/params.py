"""Query and body parsing for the agent API: bad input is a 422 naming the field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import orjson
from aiohttp import web
from pydantic import AfterValidator, AwareDatetime, BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class InvalidInput(Exception):
    """A request field that fails validation; rendered as 422 with the field's name."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def in_utc(value: datetime) -> datetime:
    """An aware time moved to UTC; refuses times the store and date arithmetic can't hold."""
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None
    if not EARLIEST <= value < LATEST:
        raise ValueError("must be between 1970 and 9000")
    return value


UtcTime = Annotated[AwareDatetime, AfterValidator(in_utc)]


def query_limit(request: web.Request, *, default: int = 50, maximum: int = 200) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput("limit", "must be an integer") from None
    if not 1 <= value <= maximum:
        raise InvalidInput("limit", f"must be between 1 and {maximum}")
    return value


def query_choice(request: web.Request, name: str, choices: tuple[str, ...]) -> str | None:
    value = request.query.get(name)
    if value is not None and value not in choices:
        raise InvalidInput(name, f"must be one of {', '.join(choices)}")
    return value


async def json_body(request: web.Request, model: type[M]) -> M:
    raw = await request.read()
    try:
        data: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput("(body)", f"not valid JSON: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in err["loc"]) or "(body)"
        raise InvalidInput(field, err["msg"]) from None
