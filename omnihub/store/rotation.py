"""Key rotation at rest: re-seal every encrypted column under the cipher's newest key.

Run it after putting a new key first (old keys still listed); once it has finished, the
old keys can be dropped. Blind indexes don't change (their key is separate), so lookups
keep working throughout. Batches are short transactions, so ingest goes on meanwhile.
"""

from __future__ import annotations

import sqlalchemy as sa

from omnihub.store.crypto import ADDRESS_PURPOSE, RAW_PAYLOAD_PURPOSE, PiiCipher
from omnihub.store.db import Database
from omnihub.store.tables import identities, raw_payloads

__all__ = ["ENCRYPTED_COLUMNS", "reencrypt_all"]

ENCRYPTED_COLUMNS: tuple[tuple[sa.Table, str, str], ...] = (
    (identities, "address_enc", ADDRESS_PURPOSE),
    (raw_payloads, "body_enc", RAW_PAYLOAD_PURPOSE),
)


async def _reencrypt_column(
    db: Database, cipher: PiiCipher, table: sa.Table, column: str, purpose: str, batch_size: int
) -> int:
    id_col, value_col = table.c.id, table.c[column]
    update = (
        sa.update(table)
        .where(id_col == sa.bindparam("b_id"))
        .values({column: sa.bindparam("b_value")})
    )
    rewritten, last_id = 0, ""
    while True:
        async with db.write() as conn:
            rows = (
                await conn.execute(
                    sa.select(id_col, value_col)
                    .where(id_col > last_id)
                    .order_by(id_col)
                    .limit(batch_size)
                )
            ).all()
            if not rows:
                return rewritten
            last_id = rows[-1][0]
            stale = [
                {"b_id": row_id, "b_value": cipher.rotate(value, purpose)}
                for row_id, value in rows
                if cipher.needs_rotation(value)
            ]
            if stale:
                await conn.execute(update, stale)
            rewritten += len(stale)


async def reencrypt_all(
    db: Database, cipher: PiiCipher, *, batch_size: int = 500
) -> dict[str, int]:
    """Rewrite identities.address_enc and raw_payloads.body_enc under the newest key;
    return how many rows of each table were rewritten."""
    counts = {}
    for table, column, purpose in ENCRYPTED_COLUMNS:
        counts[table.name] = await _reencrypt_column(db, cipher, table, column, purpose, batch_size)
    return counts
