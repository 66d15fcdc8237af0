"""Run one store operation for a command: settings -> Database -> result, and a clear exit.

Why a helper: `migrate` and `token` must report an unreachable or outdated store the
same way, as one `Error: …` line on stderr and exit code 2, never as a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click
import sqlalchemy as sa

from omnihub.hub.commands.options import load_settings
from omnihub.store.db import Database, StoreUnavailable
from omnihub.store.migrate import check_up_to_date

T = TypeVar("T")

STORE_UNAVAILABLE_EXIT = 2


class StoreCommandError(click.ClickException):
    """The store could not be used; exit 2 so scripts can tell it from a usage mistake."""

    exit_code = STORE_UNAVAILABLE_EXIT


def _one_line(exc: BaseException) -> str:
    detail = getattr(exc, "orig", None) or exc  # a driver error without SQLAlchemy's links
    return " ".join(str(detail).split())


def _open(url: str) -> Database:
    try:
        return Database(url)
    except (ImportError, sa.exc.ArgumentError, sa.exc.InvalidRequestError) as exc:
        # e.g. postgresql+psycopg2://: a driver that isn't installed or isn't async
        raise StoreCommandError(f"invalid store.url: {_one_line(exc)}") from None


def run_on_store(
    config_path: Path | None,
    operation: Callable[[Database], Awaitable[T]],
    *,
    require_current_schema: bool = True,
) -> T:
    """Open the configured store, run `operation` on it, close it; map store errors to exit 2."""
    settings = load_settings(config_path)

    async def run() -> T:
        db = _open(settings.store.url)
        try:
            if require_current_schema:
                await check_up_to_date(db)
            return await operation(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except StoreUnavailable as exc:
        raise StoreCommandError(_one_line(exc)) from None
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:  # lost mid-operation
        raise StoreCommandError(f"store error: {_one_line(exc)}") from None
