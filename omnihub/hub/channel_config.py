"""Validate hub.yaml's `channels:` list: each entry against its own connector's settings.

The list is heterogeneous (an `api` channel has a `secret`, a Telegram one a bot token),
so the model to use is picked per entry from its `type`, via the connector registry.
Every problem keeps its place (`channels.2.reply_url`) so the loader can point at its line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError, ValidationInfo
from pydantic_core import InitErrorDetails, PydanticCustomError

from omnihub.connectors.base import ChannelSettings, Connector
from omnihub.hub.validation_errors import data_path, model_keys_at

CHANNEL_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")

#: validation context key that overrides the registry (tests, embedding applications)
CONNECTOR_TYPES = "connector_types"


def validate_channels(
    value: Any, _handler: Callable[[Any], Any], info: ValidationInfo
) -> list[ChannelSettings]:
    """Pydantic wrap validator for the whole list: per-entry models, unique ids."""
    if not isinstance(value, list):
        raise PydanticCustomError("channels_list", "expected a list of channels (- id: …, type: …)")
    if not value:
        return []
    types = _connector_types(info)
    channels: list[ChannelSettings] = []
    problems: list[InitErrorDetails] = []
    for index, entry in enumerate(value):
        channel = _validate_entry(entry, (index,), types, info.context, problems)
        if channel is not None:
            channels.append(channel)
    problems.extend(_duplicate_ids(value))
    if problems:
        problems.sort(key=lambda problem: problem["loc"][0])  # type: ignore[index]
        raise ValidationError.from_exception_data("channels", problems)
    return channels


def _connector_types(info: ValidationInfo) -> Mapping[str, type[Connector]]:
    override = (info.context or {}).get(CONNECTOR_TYPES)
    if override is not None:
        return override  # type: ignore[no-any-return]
    from omnihub.connectors import registry  # looked up at call time: tests may patch it

    try:
        return registry.connector_types()
    except ImportError as exc:
        raise PydanticCustomError(
            "connector_registry", "cannot load the connector types: {error}", {"error": str(exc)}
        ) from None


def _problem(kind: str, message: str, loc: tuple[str | int, ...], value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError(kind, message), loc=loc, input=value)


def _validate_entry(
    entry: Any,
    loc: tuple[str | int, ...],
    types: Mapping[str, type[Connector]],
    context: Any,
    problems: list[InitErrorDetails],
) -> ChannelSettings | None:
    """The entry's connector settings, or None after adding its problems to `problems`."""
    if not isinstance(entry, Mapping):
        problems.append(_problem("channel_shape", "a channel is a mapping with at least "
                                 "`id` and `type`", loc, entry))
        return None
    found: list[InitErrorDetails] = []
    channel_id = entry.get("id")
    if isinstance(channel_id, str) and not CHANNEL_ID.fullmatch(channel_id):
        found.append(_problem(
            "channel_id", "a channel id is 1 to 64 characters: lower-case letters, digits, "
            "'-' and '_', starting with a letter or digit", (*loc, "id"), channel_id))
    kind = entry.get("type")
    channel: ChannelSettings | None = None
    if isinstance(kind, str) and kind in types:
        model = types[kind].settings_model
        try:
            channel = model.model_validate(dict(entry), context=context)
        except ValidationError as exc:
            found.extend(_rebased(exc, loc, entry, model))
    else:
        if "id" not in entry:
            found.append(InitErrorDetails(type="missing", loc=(*loc, "id"), input=entry))
        if kind is None:
            found.append(InitErrorDetails(type="missing", loc=(*loc, "type"), input=entry))
        else:
            known = ", ".join(sorted(types)) or "none installed"
            found.append(_problem("unknown_channel_type",
                                  f"unknown channel type {kind!r} (known types: {known})",
                                  (*loc, "type"), kind))
    problems.extend(found)
    return None if found else channel


def _rebased(
    exc: ValidationError, loc: tuple[str | int, ...], entry: Any, model: type[ChannelSettings]
) -> list[InitErrorDetails]:
    """A connector model's errors, moved under the entry's index; unknown keys carry the
    model's valid keys so the loader can suggest the one that was meant."""
    rebased: list[InitErrorDetails] = []
    for error in exc.errors(include_url=False):
        ctx = None
        if error["type"] == "extra_forbidden":
            parent = data_path(error["loc"], entry)[:-1]
            ctx = {"allowed_keys": model_keys_at(model, parent) or []}
        rebased.append(InitErrorDetails(
            type=PydanticCustomError(error["type"], error["msg"], ctx),
            loc=(*loc, *error["loc"]),
            input=error["input"],
        ))
    return rebased


def _duplicate_ids(entries: list[Any]) -> list[InitErrorDetails]:
    """Each channel id names one webhook URL; a second channel with it is an error."""
    first: dict[str, int] = {}
    problems: list[InitErrorDetails] = []
    for index, entry in enumerate(entries):
        channel_id = entry.get("id") if isinstance(entry, Mapping) else None
        if not isinstance(channel_id, str):
            continue
        if channel_id in first:
            problems.append(_problem(
                "duplicate_channel_id",
                f"duplicate channel id {channel_id!r} (also used by channels.{first[channel_id]})",
                (index, "id"), channel_id))
        else:
            first[channel_id] = index
    return problems
