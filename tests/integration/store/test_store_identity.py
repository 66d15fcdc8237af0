"""Identity resolution: which customer an inbound sender becomes."""

from __future__ import annotations

import asyncio

import pytest

from omnihub.normalizer.schema import Identity
from omnihub.store.tables import customers, identities


def idents(customer):
    return sorted((i.kind, i.address, i.verified) for i in customer.identities)


async def test_primary_identity_links_by_exact_match(store, inbound):
    a = await store.ingest(inbound("m1", ("telegram", "42")))
    b = await store.ingest(inbound("m2", ("telegram", "42")))
    other = await store.ingest(inbound("m3", ("telegram", "43")))
    assert a.message.customer_id == b.message.customer_id != other.message.customer_id


async def test_verified_secondary_identity_links_to_its_owner(store, inbound):
    ann = await store.ingest(
        inbound("e1", ("email", "ann@example.com"), channel_id="mail", channel_type="email")
    )
    via_api = await store.ingest(
        inbound(
            "a1",
            ("api", "shop-7"),
            ("email", "ann@example.com", True),
            channel_id="shop",
            channel_type="api",
        )
    )

    assert via_api.message.customer_id == ann.message.customer_id
    assert not via_api.customer_created
    customer = await store.get_customer(ann.message.customer_id)
    assert idents(customer) == [("api", "shop-7", False), ("email", "ann@example.com", False)]


async def test_unverified_secondary_identity_neither_links_nor_attaches(store, inbound):
    """Anyone can type someone else's e-mail into a form (Chatwoot #2811)."""
    ann = await store.ingest(
        inbound("e1", ("email", "ann@example.com"), channel_id="mail", channel_type="email")
    )
    claim = await store.ingest(
        inbound(
            "a1",
            ("api", "shop-9"),
            ("email", "ann@example.com", False),
            ("phone", "+14155552671", False),
            channel_id="shop",
            channel_type="api",
        )
    )

    assert claim.customer_created and claim.message.customer_id != ann.message.customer_id
    assert idents(await store.get_customer(claim.message.customer_id)) == [("api", "shop-9", False)]
    assert await store.find_customer("phone", "+14155552671") is None
    history = await store.customer_history(ann.message.customer_id)
    assert [m.external_id for m in history.items] == ["e1"]


async def test_identity_owned_by_another_customer_is_left_alone(store, inbound):
    ann = await store.ingest(
        inbound("e1", ("email", "ann@example.com"), channel_id="mail", channel_type="email")
    )
    bob = await store.ingest(
        inbound("w1", ("phone", "+14155552671"), channel_id="wa", channel_type="whatsapp")
    )
    both = await store.ingest(
        inbound(
            "a1",
            ("api", "shop-7"),
            ("email", "ann@example.com", True),
            ("phone", "+14155552671", True),
            channel_id="shop",
            channel_type="api",
        )
    )

    assert both.message.customer_id == ann.message.customer_id  # first verified owner wins
    assert idents(await store.get_customer(ann.message.customer_id)) == [
        ("api", "shop-7", False),
        ("email", "ann@example.com", False),
    ]
    assert idents(await store.get_customer(bob.message.customer_id)) == [
        ("phone", "+14155552671", False)
    ]


async def test_email_and_phone_on_two_channels_become_one_customer_through_the_shop_api(
    store, inbound, count_rows
):
    by_mail = await store.ingest(
        inbound("e1", ("email", "ann@example.com"), channel_id="mail", channel_type="email")
    )
    await store.ingest(
        inbound(
            "a1",
            ("api", "shop-7"),
            ("email", "ann@example.com", True),
            ("phone", "+14155552671", True),
            channel_id="shop",
            channel_type="api",
        )
    )
    by_phone = await store.ingest(
        inbound("w1", ("phone", "+14155552671"), channel_id="wa", channel_type="whatsapp")
    )

    assert by_phone.message.customer_id == by_mail.message.customer_id
    assert not by_phone.customer_created and by_phone.conversation_created
    assert await count_rows(customers) == 1
    history = await store.customer_history(by_mail.message.customer_id)
    assert [m.external_id for m in history.items] == ["w1", "a1", "e1"]
    assert {m.channel_id for m in history.items} == {"mail", "shop", "wa"}


async def test_identities_of_a_new_customer_in_one_batch_are_created_once(
    store, inbound, count_rows
):
    await asyncio.gather(
        *(
            store.ingest(
                inbound(
                    f"a{i}",
                    ("api", "shop-7"),
                    ("email", "ann@example.com", True),
                    channel_id="shop",
                    channel_type="api",
                )
            )
            for i in range(6)
        )
    )
    assert await count_rows(customers) == 1
    assert await count_rows(identities) == 2


async def test_find_customer_normalizes_the_address(store, inbound):
    ann = await store.ingest(
        inbound("e1", ("email", "ann@example.com"), channel_id="mail", channel_type="email")
    )
    await store.ingest(
        inbound("w1", ("phone", "+14155552671"), channel_id="wa", channel_type="whatsapp")
    )

    found = await store.find_customer("email", "  Ann@EXAMPLE.com ")
    assert found is not None and found.id == ann.message.customer_id
    assert found.identities == [Identity(kind="email", address="ann@example.com")]
    by_phone = await store.find_customer("phone", "whatsapp:+1 415 555 2671")
    assert by_phone is not None and by_phone.id != found.id
    assert await store.find_customer("email", "nobody@example.com") is None
    assert await store.find_customer("telegram", "42") is None
    assert await store.get_customer("01HZZZZZZZZZZZZZZZZZZZZZZZ") is None


async def test_find_customer_rejects_an_invalid_address(store):
    with pytest.raises(ValueError, match="invalid email"):
        await store.find_customer("email", "not-an-address")
