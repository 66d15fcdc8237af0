"""`omnihub migrate`: bring the configured store's schema to this release's revision."""

from __future__ import annotations

from pathlib import Path

import click

from omnihub.hub.commands.options import config_option
from omnihub.hub.commands.store_access import run_on_store
from omnihub.store.db import Database
from omnihub.store.migrate import current_revision, upgrade


async def _upgrade(db: Database) -> tuple[str | None, str | None]:
    before = await upgrade(db)
    return before, await current_revision(db)


@click.command()
@config_option
def migrate(config_path: Path | None) -> None:
    """Create or upgrade the store's tables; safe to run again.

    Exits 2 with one error line when the store can't be reached or opened.
    """
    before, after = run_on_store(config_path, _upgrade, require_current_schema=False)
    if before == after:
        click.echo(f"store schema already at {after}")
    else:
        click.echo(f"store schema upgraded from {before or 'empty'} to {after}")
