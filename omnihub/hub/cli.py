"""The `omnihub` command line: one click group; each command lives in hub/commands/."""

from __future__ import annotations

import importlib

import click

# Each entry is "module:attribute" of a click command or group, added in this order.
COMMANDS: tuple[str, ...] = (
    "omnihub.hub.commands.serve:serve",
    "omnihub.hub.commands.migrate:migrate",
    "omnihub.hub.commands.token:token",
    "omnihub.hub.commands.bench:bench",
    "omnihub.hub.commands.check_config:check_config",
    "omnihub.hub.commands.dead_letters:dead_letters",
    "omnihub.hub.commands.route:route",
    "omnihub.hub.commands.kb:kb",
    "omnihub.hub.commands.routing:routing",
    "omnihub.hub.commands.backup:backup",
    "omnihub.hub.commands.backup:restore",
    "omnihub.hub.commands.prune:prune",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="omnihub")
def main() -> None:
    """omnihub: one inbox for every channel your customers write on."""


for _spec in COMMANDS:
    _module, _, _attr = _spec.partition(":")
    main.add_command(getattr(importlib.import_module(_module), _attr))
