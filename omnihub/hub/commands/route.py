"""`omnihub route`: dry-run a message through routing.yaml and show what would happen, and why."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from omnihub.hub.commands.options import config_option, load_settings
from omnihub.hub.yamlconfig import ConfigError
from omnihub.router import RouteInput, compile_router, load_routing
from omnihub.router.config import MESSAGE_KINDS
from omnihub.router.explain import render_decision

EXAMPLE_ROUTING = Path("config/examples/routing.yaml")


def _parse_at(value: str | None, zone: ZoneInfo) -> datetime:
    """ISO 8601; without an offset the time is read in the routing file's time zone."""
    if value is None:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time like 2026-12-24T22:00+08:00", param_hint="--at"
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=zone)


def _parse_attrs(pairs: tuple[str, ...]) -> dict[str, Any]:
    """`vip=true`, `orders=3`: values read as YAML scalars, so they compare like the file's."""
    yaml = YAML(typ="safe")
    attrs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--attr")
        try:
            value = yaml.load(raw) if raw.strip() else raw
        except YAMLError:
            value = raw
        attrs[key.strip()] = value if isinstance(value, (str, int, float, bool)) else raw
    return attrs


def _routing_path(routing: Path | None, config_path: Path | None) -> Path:
    """--routing, else the routing file hub.yaml names, else the shipped example."""
    if routing is not None:
        return routing
    configured = load_settings(config_path).routing
    return Path(configured) if configured else EXAMPLE_ROUTING


@click.command("route")
@click.option("--channel", "channel_type", required=True,
              help="Channel type: voice, webchat, telegram, slack, whatsapp, sms, email …")
@click.option("--channel-id", default=None, help="The configured channel's id, for channel_id rules.")
@click.option("--text", default="", help="Message text.")
@click.option("--tag", "tags", multiple=True, help="A customer tag (repeatable).")
@click.option("--attr", "attrs", multiple=True, help="A customer attribute KEY=VALUE (repeatable).")
@click.option("--kind", "kinds", multiple=True,
              help="A part kind: text, image, audio, video, file, location, contact, call (repeatable).")
@click.option("--lang", "language", default=None, help="Message language, e.g. zh or en-GB.")
@click.option("--at", "at_text", default=None,
              help="Arrival time, ISO 8601 (default: now; without offset: the routing time zone).")
@click.option("--explain", is_flag=True, help="List every rule, matched or skipped, with the reason.")
@click.option("--routing", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="routing.yaml to use (default: hub.yaml's routing, else config/examples/routing.yaml).")
@config_option
def route(channel_type: str, channel_id: str | None, text: str, tags: tuple[str, ...],
          attrs: tuple[str, ...], kinds: tuple[str, ...], language: str | None,
          at_text: str | None, explain: bool, routing: Path | None, config_path: Path | None) -> None:
    """Show the category, group, priority, deadlines and agent a message would get."""
    unknown = [kind for kind in kinds if kind not in MESSAGE_KINDS]
    if unknown:
        raise click.BadParameter(
            f"unknown kind {unknown[0]!r} (known: {', '.join(MESSAGE_KINDS)})", param_hint="--kind")
    path = _routing_path(routing, config_path)
    try:
        router = compile_router(load_routing(path))
    except ConfigError as exc:
        raise click.ClickException(f"invalid routing file:\n{exc}") from None
    zone = ZoneInfo(router.config.timezone)
    at = _parse_at(at_text, zone)
    message = RouteInput(
        channel_type=channel_type, channel_id=channel_id, text=text,
        kinds=frozenset(kinds) | ({"text"} if text or not kinds else frozenset()),
        customer_tags=frozenset(tags), customer_attributes=_parse_attrs(attrs), language=language,
    )
    decision = router.route(message, now=at, explain=explain)
    click.echo(render_decision(router, decision, routing=path, at=at, zone=zone))
