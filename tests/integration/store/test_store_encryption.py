"""Contact data at rest: no address in clear anywhere; key rotation re-encrypts in place."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from omnihub.store import Store
from omnihub.store.crypto import (
    ADDRESS_PURPOSE,
    RAW_PAYLOAD_PURPOSE,
    DecryptionError,
    PiiCipher,
    derive_index_key,
    key_id,
)
from omnihub.store.rotation import reencrypt_all
from omnihub.store.tables import identities, metadata, raw_payloads

EMAIL, PHONE = "ann.secret@example.com", "+14155552671"


async def dump(db) -> str:
    """Every row of every table as text, as a database dump would show it."""
    lines = []
    async with db.read() as conn:
        for table in metadata.sorted_tables:
            for row in await conn.execute(sa.select(table)):
                lines.append(f"{table.name}: {tuple(row)!r}")
    return "\n".join(lines)


async def ingest_contacts(store, inbound):
    await store.ingest(
        inbound(
            "e1",
            ("email", EMAIL),
            channel_id="mail",
            channel_type="email",
            raw=f"From: {EMAIL}\r\n\r\nhi".encode(),
        )
    )
    await store.ingest(
        inbound(
            "a1",
            ("api", "shop-7"),
            ("email", EMAIL, True),
            ("phone", PHONE, True),
            channel_id="shop",
            channel_type="api",
            raw=f'{{"email": "{EMAIL}", "phone": "{PHONE}"}}'.encode(),
        )
    )


async def test_no_address_appears_in_clear(store, db, inbound):
    await ingest_contacts(store, inbound)
    customer = await store.find_customer("phone", PHONE)
    await store.merge_customers(
        (await store.ingest(inbound("t1", ("telegram", "9")))).message.customer_id,
        customer.id,
        actor="agent:eve",
    )

    text = await dump(db)
    assert "identities:" in text and "raw_payloads:" in text
    for secret in (EMAIL, PHONE, PHONE.lstrip("+"), "ann.secret", "example.com"):
        assert secret not in text
    assert sorted((i.kind, i.address) for i in customer.identities) == [
        ("api", "shop-7"),
        ("email", EMAIL),
        ("phone", PHONE),
    ]


async def test_key_rotation_reencrypts_and_lookups_keep_working(db, cipher, inbound):
    old_key = bytes(range(32))
    store = Store(db, cipher)
    await store.start()
    await ingest_contacts(store, inbound)
    await store.close()

    new_key = os.urandom(32)
    index_key = derive_index_key(old_key)  # the index key never changes
    rotated = PiiCipher([new_key, old_key], index_key)
    assert await reencrypt_all(db, rotated, batch_size=2) == {"identities": 3, "raw_payloads": 2}
    assert await reencrypt_all(db, rotated) == {"identities": 0, "raw_payloads": 0}

    async with db.read() as conn:
        tokens = [
            (ADDRESS_PURPOSE, t)
            for t in (await conn.execute(sa.select(identities.c.address_enc))).scalars()
        ]
        tokens += [
            (RAW_PAYLOAD_PURPOSE, t)
            for t in (await conn.execute(sa.select(raw_payloads.c.body_enc))).scalars()
        ]
    assert all(t.startswith(key_id(new_key) + ":") for _, t in tokens)
    new_only = PiiCipher([new_key], index_key)
    assert {new_only.decrypt_bytes(t, p) for p, t in tokens} >= {EMAIL.encode(), PHONE.encode()}
    with pytest.raises(DecryptionError):
        PiiCipher([old_key], index_key).decrypt(tokens[0][1], ADDRESS_PURPOSE)

    after = Store(db, new_only)
    found = await after.find_customer("email", EMAIL)
    assert found is not None and {i.address for i in found.identities} >= {EMAIL, PHONE}
