"""Store URLs: plain schemes pick the async driver; SQLite creates its data directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnihub.store.db import Database, StoreUnavailable, async_url


@pytest.mark.parametrize(("url", "driver"), [
    ("sqlite:///data/x.db", "sqlite+aiosqlite"),
    ("postgresql://u@h/db", "postgresql+asyncpg"),
    ("postgres://u@h/db", "postgresql+asyncpg"),
    ("mysql://root@h/db", "mysql+aiomysql"),
    ("mariadb://root@h/db", "mysql+aiomysql"),
])
def test_plain_urls_get_the_async_driver(url: str, driver: str) -> None:
    assert async_url(url).drivername == driver


def test_unknown_scheme_is_a_clear_error() -> None:
    with pytest.raises(StoreUnavailable, match="unsupported store.url scheme"):
        async_url("oracle://x/y")


async def test_sqlite_creates_its_data_directory(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "nested" / "hub.db"
    db = Database(f"sqlite:///{path}")
    try:
        await db.ping()
    finally:
        await db.dispose()
    assert path.parent.is_dir()
