"""`omnihub check-config`: validate hub.yaml and routing.yaml before a deploy, not during it."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from omnihub.hub.yamlconfig import ConfigError, LocatedError, load_yaml_data

DEFAULT_CONFIG = Path("config/hub.yaml")

# Where the routing engineer's loader lives: `load_routing(path)` raising ConfigError.
ROUTING_LOADERS: tuple[str, ...] = ("omnihub.router.config", "omnihub.router.load")


@click.command("check-config")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              default=DEFAULT_CONFIG, show_default=True,
              help="hub.yaml to check when no FILE is given (with the routing file it names).")
def check_config(files: tuple[Path, ...], config_path: Path) -> None:
    """Validate hub.yaml and routing.yaml files; print each error as file:line:col.

    A file whose top level has `rules` or `groups` (or whose name starts with "routing")
    is checked as routing.yaml, one named customer_tags*.yaml as tag rules, any other as
    hub.yaml; with no FILE, hub.yaml and the routing and tag rules files it names. Exits 1
    on any error.
    """
    ok = True
    if files:
        for path in files:
            ok = _report(path, _check_file(path)) and ok
    else:
        errors, routing = _check_hub(config_path)
        ok = _report(config_path, errors)
        if routing is not None:
            ok = _report(routing, _check_routing(routing)) and ok
        tag_rules = _named_tag_rules(config_path) if not errors else None
        if tag_rules is not None:
            ok = _report(tag_rules, _check_tag_rules(tag_rules)) and ok
    if not ok:
        raise SystemExit(1)


def _report(path: Path, errors: list[LocatedError]) -> bool:
    for error in errors:
        click.echo(str(error), err=True)
    if not errors:
        click.echo(f"OK {path}")
    return not errors


def _check_file(path: Path) -> list[LocatedError]:
    if path.name.startswith("customer_tags"):
        return _check_tag_rules(path)
    return _check_routing(path) if _is_routing(path) else _check_hub(path)[0]


def _named_tag_rules(path: Path) -> Path | None:
    """`profiles.tag_rules` of a valid hub.yaml (customer_tags.yaml), if it names one."""
    from omnihub.hub.settings import load_hub_settings

    return load_hub_settings(path).profiles.tag_rules


def _check_tag_rules(path: Path) -> list[LocatedError]:
    from omnihub.profiles.rules import load_tag_rules

    try:
        load_tag_rules(path)
    except ConfigError as exc:
        return exc.errors
    return []


def _is_routing(path: Path) -> bool:
    if path.name.startswith("routing"):
        return True
    try:
        data, _ = load_yaml_data(path)
    except ConfigError:
        return False  # the hub loader reports the same problem
    return isinstance(data, dict) and ("rules" in data or "groups" in data)


def _check_hub(path: Path) -> tuple[list[LocatedError], Path | None]:
    """Errors of a hub.yaml, and the routing file it names (even if other keys are wrong)."""
    from omnihub.hub.settings import load_hub_settings

    try:
        settings = load_hub_settings(path)
    except ConfigError as exc:
        return exc.errors, _named_routing(path)
    from omnihub.hub.channel_references import check_channel_references

    return check_channel_references(path, settings), settings.routing


def _named_routing(path: Path) -> Path | None:
    try:
        data, _ = load_yaml_data(path)
    except ConfigError:
        return None
    routing = data.get("routing") if isinstance(data, dict) else None
    return Path(routing) if isinstance(routing, str) and routing else None


def _check_routing(path: Path) -> list[LocatedError]:
    load_routing = _routing_loader()
    if load_routing is None:
        return [LocatedError(str(path), 0, 0, "", "routing validation not available "
                             "(omnihub.router has no load_routing)")]
    try:
        load_routing(path)
    except ConfigError as exc:
        return exc.errors
    return []


def _routing_loader() -> Callable[[Path], Any] | None:
    for module_name in ROUTING_LOADERS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise  # the module exists but is broken: show the real traceback
            continue
        loader = getattr(module, "load_routing", None)
        if loader is not None:
            return loader  # type: ignore[no-any-return]
    return None
