"""Options shared by every command: where the config file is, and loading it."""

from __future__ import annotations

from pathlib import Path

import click

DEFAULT_CONFIG = Path("config/hub.yaml")

config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="hub.yaml to use (default: config/hub.yaml if present, else the embedded defaults).")


def load_settings(config_path: Path | None):  # type: ignore[no-untyped-def]
    """Load hub.yaml, or the embedded defaults when no file is given or present.

    A located configuration error becomes a click error (exit 1) with every line of it.
    """
    from omnihub.hub.defaults import embedded_settings
    from omnihub.hub.settings import load_hub_settings
    from omnihub.hub.yamlconfig import ConfigError

    path = config_path
    if path is None and DEFAULT_CONFIG.exists():
        path = DEFAULT_CONFIG
    if path is None:
        return embedded_settings()
    try:
        return load_hub_settings(path)
    except ConfigError as exc:
        raise click.ClickException(f"invalid configuration:\n{exc}") from None
