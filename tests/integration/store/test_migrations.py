"""The packaged migrations build exactly the schema of omnihub.store.tables, on every backend."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from omnihub.store.db import Database, StoreUnavailable
from omnihub.store.migrate import (
    SchemaOutOfDate,
    check_up_to_date,
    current_revision,
    head_revision,
    upgrade,
)
from omnihub.store.tables import metadata


def _not_full_text_index(name: str | None, type_: str, parent_names: Any) -> bool:
    """The knowledge base's full-text index (0007_kb) is dialect-specific DDL outside
    tables.py: SQLite's FTS5 table kb_fts with its shadow tables, PostgreSQL's GIN index."""
    return not (name or "").startswith("kb_fts")


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={
        "compare_type": True, "include_name": _not_full_text_index})
    return compare_metadata(context, metadata)


async def test_upgrade_builds_exactly_the_declared_schema(store_url: str) -> None:
    db = Database(store_url)
    try:
        await upgrade(db)
        async with db.read() as conn:
            diff = await conn.run_sync(_differences)
    finally:
        await db.dispose()
    assert diff == []


async def test_upgrade_creates_every_table(store_url: str) -> None:
    db = Database(store_url)
    try:
        await upgrade(db)
        async with db.read() as conn:
            names = await conn.run_sync(lambda c: {
                n for n in sa.inspect(c).get_table_names() if _not_full_text_index(n, "table", {})})
    finally:
        await db.dispose()
    assert names == set(metadata.tables) | {"alembic_version"}


async def test_upgrade_twice_is_a_no_op(store_url: str) -> None:
    db = Database(store_url)
    try:
        await upgrade(db)
        await upgrade(db)
        assert await current_revision(db) == head_revision()
        await check_up_to_date(db)
    finally:
        await db.dispose()


async def test_fresh_database_is_reported_out_of_date(store_url: str) -> None:
    db = Database(store_url)
    try:
        assert await current_revision(db) is None
        with pytest.raises(SchemaOutOfDate) as info:
            await check_up_to_date(db)
    finally:
        await db.dispose()
    assert str(info.value) == (
        f"store schema at none (empty database), code expects {head_revision()}: "
        "run `omnihub migrate`"
    )


async def test_upgrade_of_unreachable_store_raises_store_unavailable() -> None:
    db = Database("postgresql://postgres@127.0.0.1:1/test")
    try:
        with pytest.raises(StoreUnavailable, match="unreachable"):
            await upgrade(db)
    finally:
        await db.dispose()


async def test_comparison_sees_a_drifted_schema(store_url: str) -> None:
    """Guards the test above: a changed column type and a stray column are reported."""
    db = Database(store_url)
    try:
        await upgrade(db)
        async with db.write() as conn:
            await conn.execute(sa.text("ALTER TABLE leases ADD COLUMN stray INTEGER"))
            await conn.execute(sa.text("DROP INDEX ix_merges_source_id" + (
                " ON merges" if db.dialect == "mysql" else "")))
        async with db.read() as conn:
            diff = await conn.run_sync(_differences)
    finally:
        await db.dispose()
    kinds = sorted(d[0] if isinstance(d, tuple) else d[0][0] for d in diff)
    assert kinds == ["add_index", "remove_column"]


async def test_store_migrated_by_a_newer_release_is_refused(store_url: str) -> None:
    db = Database(store_url)
    try:
        await upgrade(db)
        async with db.write() as conn:
            await conn.execute(sa.text("UPDATE alembic_version SET version_num = 'f00d'"))
        with pytest.raises(SchemaOutOfDate, match="store schema at f00d, which this release"):
            await check_up_to_date(db)
        with pytest.raises(SchemaOutOfDate, match="store schema at f00d, which this release"):
            await upgrade(db)
    finally:
        await db.dispose()


async def test_concurrent_upgrades_from_several_processes_all_succeed(store_url: str) -> None:
    """Several `omnihub serve` starting at once each run upgrade; the lock lets one build."""
    handles = [Database(store_url) for _ in range(3)]
    try:
        await asyncio.gather(*(upgrade(h) for h in handles))
        assert await current_revision(handles[0]) == head_revision()
        async with handles[0].read() as conn:
            assert await conn.run_sync(_differences) == []
    finally:
        for handle in handles:
            await handle.dispose()
