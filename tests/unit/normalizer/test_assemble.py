"""`assemble`: the ingest path's cheap model_construct, for values already validated."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from omnihub.normalizer.schema import Identity, Message, TextPart, assemble

NOW = datetime(2026, 11, 26, tzinfo=UTC)


def _message_fields() -> dict[str, object]:
    return dict(
        id="m1", conversation_id="c1", customer_id="u1", channel_id="api", channel_type="api",
        direction="in", author="customer", external_id="e1", reply_to=None,
        parts=[assemble(TextPart, kind="text", text="hello", html=None)], created_at=NOW,
        received_at=NOW, status="received", edited_at=None, recalled_at=None, private=False,
        raw_ref=None, automated=None)


def test_an_assembled_model_equals_the_validated_one() -> None:
    fields = _message_fields()
    built = assemble(Message, **fields)
    validated = Message.model_validate(fields)
    assert built == validated
    assert built.model_dump(mode="json") == validated.model_dump(mode="json")
    assert built.model_copy(update={"status": "read"}).status == "read"


def test_a_missing_or_unknown_field_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match=r"missing \['verified'\]"):
        assemble(Identity, kind="api", address="shop:1")
    with pytest.raises(TypeError, match=r"unknown \['colour'\]"):
        assemble(Identity, kind="api", address="shop:1", verified=True, colour="red")
