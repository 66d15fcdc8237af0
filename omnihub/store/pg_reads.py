"""`Database.fetch` on PostgreSQL: one SELECT from a plan compiled once, straight on asyncpg.

A first page of history (50 messages) through SQLAlchemy's async engine took 0.78 ms
at the median here; asyncpg's own `fetch` of it, round trip and row decoding included,
0.30-0.36 ms. Part of the rest is the greenlet switches of the async adapter, the
execution context and the cursor wrapping, paid on every read somebody waits on. A plan
(omnihub/store/plans.py) keeps the compiled SQL and the type processors, so a read is a
pool checkout, one `fetch` and the column conversions: 0.68 ms for that page (the
conversions of its four date columns are 0.14 ms of it). The connection still comes from `fetch`'s SQLAlchemy pool, which keeps
connecting, pooling, recycling and the JSON codecs SQLAlchemy sets up on each connection.

A statement without a plan (an expanding IN, one built per call once the cache is full)
returns None here and runs through SQLAlchemy instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from omnihub.store.plans import PlanCache

__all__ = ["AsyncpgReads"]


class AsyncpgReads:
    """Reads on `engine`'s pooled connections, run by asyncpg directly."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._plans = PlanCache()

    async def fetch(self, statement: Any, parameters: Mapping[str, Any] | None = None
                    ) -> Sequence[RowMapping] | None:
        """The rows of one SELECT as mappings, or None when it has no plan.

        A pooled connection the server has closed (a restart, an idle timeout) is
        discarded, and the error says so (`connection_invalidated`), as SQLAlchemy's
        would: `Database.fetch` then runs the read once more on a fresh connection."""
        plan = self._plans.plan(statement, parameters, self.engine.dialect)
        if plan is None:
            return None
        arguments = plan.arguments(parameters)
        async with self.engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            try:
                records = await driver.fetch(plan.sql, *arguments)
            except Exception as exc:  # asyncpg's errors share no base class
                closed = driver.is_closed()
                if closed:
                    await conn.invalidate()
                raise DBAPIError(plan.sql, arguments, exc,
                                 connection_invalidated=closed) from exc
        return plan.result(records).mappings().all()
