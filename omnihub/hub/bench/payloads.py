"""Pre-signed API-channel requests, written to a file both load generators replay.

Signing happens before the clock starts so the load generator only copies bytes; every
request has its own external_id (the hub dedupes repeats, which would hide lost writes)
and the file holds raw HTTP/1.1 requests, so wrk and the Python generator send the very
same bytes to the hub and to the bare baseline.

File format: per request, its length in ASCII digits and a newline, then the request.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from omnihub.hub.signing import HEADER, sign

WORDS = (
    "hello order parcel delivery refund size colour invoice tracking number arrived "
    "yesterday today tomorrow please could you check status address change payment card "
    "shipping return label warehouse discount code voucher product question thanks"
).split()


@dataclass(frozen=True)
class RequestFile:
    """A written request file: where, how many requests, how many bytes."""

    path: Path
    count: int
    size: int


def message_texts(count: int, length: int, seed: int = 7) -> list[str]:
    """Plausible customer texts of about `length` characters (a real message, not padding)."""
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        words: list[str] = []
        while sum(len(w) + 1 for w in words) < length:
            words.append(rng.choice(WORDS))
        texts.append(" ".join(words)[:length])
    return texts


def customer_ref(customer: int) -> str:
    """The shop's id of bench customer number `customer`."""
    return f"cust-{customer:05d}"


def build_body(external_id: str, customer: str, text: str) -> bytes:
    """The JSON an API channel accepts (issue 2: external_id, customer, text)."""
    return orjson.dumps(
        {
            "external_id": external_id,
            "customer": {"external_id": customer, "name": f"Customer {customer}"},
            "text": text,
        }
    )


def build_request(path: str, body: bytes, signature: str) -> bytes:
    """One raw HTTP/1.1 keep-alive request; Host carries no port so any server accepts it."""
    head = (
        f"POST {path} HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        "Content-Type: application/json\r\n"
        f"{HEADER}: {signature}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode() + body


def write_requests(
    path: Path,
    *,
    count: int,
    secret: str,
    channel_id: str,
    tag: str,
    customers: int | None = 10_000,
    text_length: int = 900,
    timestamp: int | None = None,
    seed: int = 1,
    customer_order: str = "random",
) -> RequestFile:
    """Write `count` signed requests with unique external ids `<tag>-<n>`.

    The senders are drawn at random from `customers` bench customers, or taken in turn
    (`customer_order="each"`, to seed every one of them once); with `customers=None`
    every message comes from a customer of its own that the hub has never seen.
    """
    if customer_order not in ("random", "each"):
        raise ValueError("customer_order is 'random' or 'each'")
    if count < 1:
        raise ValueError("a request file needs at least one request")
    rng = random.Random(seed)
    texts = message_texts(64, text_length)
    url_path = f"/webhooks/{channel_id}"
    size = 0
    with path.open("wb") as out:
        for n in range(count):
            if customers is None:
                customer = f"{tag}-new-{n:08d}"
            elif customer_order == "each":
                customer = customer_ref(n % customers)
            else:
                customer = customer_ref(rng.randrange(customers))
            body = build_body(f"{tag}-{n:08d}", customer, texts[n % len(texts)])
            request = build_request(url_path, body, sign(secret, body, timestamp=timestamp))
            record = b"%d\n%b" % (len(request), request)
            out.write(record)
            size += len(record)
    return RequestFile(path, count, size)


def read_requests(path: Path) -> Iterator[bytes]:
    """Yield the raw requests of a file written by write_requests."""
    with path.open("rb") as src:
        while header := src.readline():
            length = int(header)
            request = src.read(length)
            if len(request) != length:
                raise ValueError(f"{path}: truncated request record")
            yield request


def split_request(request: bytes) -> tuple[dict[str, str], bytes]:
    """Headers (lower-cased names) and body of a raw request, for checks and tests."""
    head, _, body = request.partition(b"\r\n\r\n")
    headers = {}
    for line in head.decode().split("\r\n")[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers, body
