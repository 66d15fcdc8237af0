"""The deployment examples (config/examples/deploy/) run commands this omnihub has: each
command line of the Procfile and the systemd unit parses with the real CLI."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import click
import pytest

from omnihub.hub.cli import main

DEPLOY = Path(__file__).parents[3] / "config" / "examples" / "deploy"


def procfile_commands() -> list[str]:
    lines = (DEPLOY / "Procfile").read_text().splitlines()
    return [line.partition(":")[2].strip() for line in lines
            if line.strip() and not line.startswith("#")]


def unit_commands() -> list[str]:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(DEPLOY / "omnihub@.service")
    return [unit["Service"]["ExecStart"]]


@pytest.mark.parametrize("command", procfile_commands() + unit_commands())
def test_deploy_command_parses(command: str) -> None:
    words = shlex.split(command.replace("$PORT", "5000").replace("%i", "8081"))
    assert Path(words[0]).name == "omnihub"
    name, *args = words[1:]
    sub = main.commands[name]
    with sub.make_context(name, args) as ctx:  # raises click.UsageError on a bad option
        assert isinstance(ctx.command, click.Command)
        if name == "serve":
            assert ctx.params["port"] in (5000, 8081) and ctx.params["config_path"] is not None


def test_procfile_has_web_and_release() -> None:
    kinds = [line.partition(":")[0] for line in (DEPLOY / "Procfile").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert kinds == ["release", "web"]
