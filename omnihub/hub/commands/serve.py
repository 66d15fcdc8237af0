"""`omnihub serve`: the whole hub in one process."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import click

from omnihub.hub.commands.options import config_option, load_settings


@click.command()
@config_option
@click.option("--host", default=None, help="Listen address (overrides server.host).")
@click.option("--port", type=int, default=None, help="Listen port (overrides server.port).")
@click.option("--log-level", default="INFO", show_default=True)
def serve(config_path: Path | None, host: str | None, port: int | None, log_level: str) -> None:
    """Run the hub: webhooks, agent API, workers, all in this process."""
    from aiohttp import web

    from omnihub.hub.app import create_app
    from omnihub.hub.logs import setup_logging
    from omnihub.store.db import StoreUnavailable

    setup_logging(log_level.upper())
    settings = load_settings(config_path)
    updates = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if updates:
        server = settings.server.model_copy(update=updates)
        if "public_url" not in settings.server.model_fields_set:
            server = server.model_copy(update={"public_url": f"http://{server.host}:{server.port}"})
        settings = settings.model_copy(update={"server": server})
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # uvloop is optional (e.g. on Windows)
        pass
    try:
        web.run_app(create_app(settings, serving=True), host=settings.server.host, port=settings.server.port,
                    print=lambda text: logging.getLogger("omnihub").info(text.strip()),
                    access_log=None, handle_signals=True)
    except StoreUnavailable as exc:
        raise click.ClickException(str(exc)) from None
