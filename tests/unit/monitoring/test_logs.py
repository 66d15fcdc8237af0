"""Logs off a terminal are JSON lines, and carry the request id they were logged under."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import orjson
import pytest

from omnihub.hub.logs import setup_logging
from omnihub.hub.request_id import accepted, bound_request_id, current_request_id


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """setup_logging replaces the root handlers (pytest's among them): put them back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_json_lines_with_the_request_id(restored_logging: None,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO")  # stderr is captured here: not a terminal
    log = logging.getLogger("omnihub.test")
    with bound_request_id("req-1"):
        log.info("stored %s", "m-1")
    log.info("outside any request")
    first, second = (orjson.loads(line) for line in capsys.readouterr().err.splitlines())
    assert first["request_id"] == "req-1" and first["msg"] == "stored m-1"
    assert first["logger"] == "omnihub.test" and first["level"] == "info"
    assert "request_id" not in second


def test_binding_nests_and_none_keeps_the_current_id() -> None:
    assert current_request_id() is None
    with bound_request_id("outer"):
        with bound_request_id(None):
            assert current_request_id() == "outer"
        with bound_request_id("inner"):
            assert current_request_id() == "inner"
        assert current_request_id() == "outer"
    assert current_request_id() is None


@pytest.mark.parametrize("value", ["abc-123", "Root=1-5f84c7a1-0123", "x" * 64])
def test_sane_ids_are_kept(value: str) -> None:
    assert accepted(value) == value


@pytest.mark.parametrize("value", [None, "", "x" * 65, "a b", "{\"level\": \"error\"}"])
def test_anything_else_is_replaced(value: str | None) -> None:
    replaced = accepted(value)
    assert replaced != value and len(replaced) == 32


def test_generated_ids_never_repeat() -> None:
    assert len({accepted(None) for _ in range(10_000)}) == 10_000


def test_an_envelope_carries_its_request_id_over_the_wire() -> None:
    from datetime import UTC, datetime

    from omnihub.hub.bus.base import Envelope

    envelope = Envelope(seq=7, id="e1", topic="delivery", type="message.deliver", key="c1",
                        payload={"message_id": "m1"}, created_at=datetime.now(UTC),
                        request_id="req-9")
    assert Envelope.from_bytes(envelope.to_bytes()) == envelope
    older = envelope.to_bytes().replace(b',"request_id":"req-9"', b"")  # from before 0009
    assert Envelope.from_bytes(older).request_id is None
