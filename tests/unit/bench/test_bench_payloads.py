from __future__ import annotations

from pathlib import Path

import orjson

from omnihub.hub.bench.payloads import read_requests, split_request, write_requests
from omnihub.hub.signing import HEADER, verify


def test_request_file_holds_unique_signed_messages(tmp_path: Path) -> None:
    written = write_requests(
        tmp_path / "r.req", count=300, secret="s3cret", channel_id="bench", tag="t1",
        customers=50,
    )
    requests = list(read_requests(written.path))
    assert written.count == len(requests) == 300
    assert written.size == written.path.stat().st_size

    external_ids, customers = set(), set()
    for request in requests:
        assert request.startswith(b"POST /webhooks/bench HTTP/1.1\r\n")
        headers, body = split_request(request)
        assert int(headers["content-length"]) == len(body)
        verify("s3cret", body, headers[HEADER.lower()])
        message = orjson.loads(body)
        external_ids.add(message["external_id"])
        customers.add(message["customer"]["external_id"])
        assert 900 <= len(body) <= 1100  # about the size of a real message
    assert len(external_ids) == 300
    assert all(item.startswith("t1-") for item in external_ids)
    assert 40 <= len(customers) <= 50


def _customers(path: Path) -> list[str]:
    return [orjson.loads(split_request(r)[1])["customer"]["external_id"]
            for r in read_requests(path)]


def test_seed_file_has_every_customer_once(tmp_path: Path) -> None:
    written = write_requests(tmp_path / "s.req", count=40, secret="s", channel_id="bench",
                             tag="seed", customers=40, customer_order="each")
    assert sorted(_customers(written.path)) == [f"cust-{n:05d}" for n in range(40)]


def test_cold_file_has_a_new_customer_per_message(tmp_path: Path) -> None:
    written = write_requests(tmp_path / "c.req", count=50, secret="s", channel_id="bench",
                             tag="cold", customers=None)
    customers = _customers(written.path)
    assert len(set(customers)) == 50
    assert not any(c.startswith("cust-") for c in customers)  # none of the seeded ones
