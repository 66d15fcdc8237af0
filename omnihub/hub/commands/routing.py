"""`omnihub routing canary|promote|rollback|status`: a staged rollout of routing.yaml.

The commands only write files in the hub's data directory (and, on promote, the stable
routing.yaml); running hubs watch them and switch without a restart. See
omnihub/router/canary.py for how customers are split.
"""

from __future__ import annotations

from pathlib import Path

import click

from omnihub.hub.commands.options import config_option, load_settings


@click.group()
def routing() -> None:
    """Roll a new routing.yaml out to a share of new conversations first."""


def _stable(config_path: Path | None):  # type: ignore[no-untyped-def]
    settings = load_settings(config_path)
    if settings.routing is None:
        raise click.ClickException("hub.yaml names no routing file (`routing:`); a canary "
                                   "needs a stable version to compare with")
    return settings


@routing.command("canary")
@click.argument("candidate", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--percent", type=click.FloatRange(0, 100, min_open=True, max_open=True),
              required=True, help="Share of customers (sticky) whose new conversations the "
                                  "candidate routes, e.g. 10.")
@config_option
def canary(candidate: Path, percent: float, config_path: Path | None) -> None:
    """Route PERCENT % of customers' new conversations by CANDIDATE (checked first)."""
    from omnihub.hub.yamlconfig import ConfigError
    from omnihub.router.canary import start_canary

    settings = _stable(config_path)
    try:
        state = start_canary(settings.data_dir, candidate, percent)
    except ConfigError as exc:
        raise click.ClickException(f"{candidate} is not a valid routing file:\n{exc}") from None
    click.echo(f"canary {state.sha256[:12]} ({candidate}) routes {percent:g}% of customers; "
               f"`omnihub routing promote` or `omnihub routing rollback` ends it")


@routing.command("promote")
@config_option
def promote(config_path: Path | None) -> None:
    """Make the canary the stable routing.yaml for everyone, and end the canary."""
    from omnihub.router.canary import promote_canary

    settings = _stable(config_path)
    try:
        state = promote_canary(settings.data_dir, settings.routing)
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"canary {state.sha256[:12]} promoted: {settings.routing} now holds it")


@routing.command("rollback")
@config_option
def rollback(config_path: Path | None) -> None:
    """End the canary: every new conversation goes by the stable routing.yaml again."""
    from omnihub.router.canary import end_canary

    settings = _stable(config_path)
    state = end_canary(settings.data_dir)
    if state is None:
        raise click.ClickException("no routing canary is running")
    click.echo(f"canary {state.sha256[:12]} rolled back; {settings.routing} routes everyone")


@routing.command("status")
@config_option
def status(config_path: Path | None) -> None:
    """Show the canary, if one is running."""
    from omnihub.router.canary import current_canary

    settings = _stable(config_path)
    state = current_canary(settings.data_dir)
    if state is None:
        click.echo(f"no canary; {settings.routing} routes everyone")
        return
    click.echo(f"canary {state.sha256[:12]} from {state.source}: {state.percent:g}% of "
               f"customers since {state.started_at:%Y-%m-%d %H:%M:%S} UTC")
