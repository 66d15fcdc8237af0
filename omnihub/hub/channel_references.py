"""Checks of hub.yaml channels against routing.yaml: names a schema alone cannot verify.

A connector whose settings name routing.yaml things (a phone IVR naming skill groups and
agents) declares `check_references(settings, routing) -> [(key path, message)]`; each
problem is reported at its line of hub.yaml by `omnihub check-config`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omnihub.hub.yamlconfig import ConfigError, LocatedError, load_yaml_data

if TYPE_CHECKING:
    from omnihub.hub.settings import HubSettings

__all__ = ["ReferenceCheck", "check_channel_references"]

#: (settings, routing config) -> [(key path inside the channel entry, message)]
ReferenceCheck = Callable[[Any, Any], Sequence[tuple[tuple[str | int, ...], str]]]


def check_channel_references(path: Path, settings: HubSettings) -> list[LocatedError]:
    """Problems of every channel that names routing.yaml things; none without routing.yaml
    or when it is invalid itself (its own check reports that)."""
    if settings.routing is None:
        return []
    from omnihub.connectors.registry import connector_types
    from omnihub.router.load import load_routing

    try:
        routing = load_routing(settings.routing)
        _, locator = load_yaml_data(path)
    except ConfigError:
        return []
    types = connector_types()
    errors: list[LocatedError] = []
    for index, channel in enumerate(settings.channels):
        check: ReferenceCheck | None = getattr(types.get(channel.type), "check_references", None)
        if check is None:
            continue
        for key_path, message in check(channel, routing):
            errors.append(locator.error(("channels", index, *key_path), message))
    return errors
