"""The token bucket behind the public endpoints' per-client limits."""

from __future__ import annotations

import pytest

from omnihub.hub.rate_limit import RateLimiter, public_endpoint


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_steady_rate_and_the_wait_until_the_next_token() -> None:
    clock = Clock()
    limiter = RateLimiter(per_second=2.0, burst=3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)  # empty: one token back in 1/2 s
    assert limiter.take("b") == 0.0  # another client has its own bucket
    clock.now += 0.5
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0
    clock.now += 60  # refills to the burst, not beyond
    assert [limiter.take("a") for _ in range(4)][-1] > 0


def test_clients_are_forgotten_least_recent_first() -> None:
    limiter = RateLimiter(per_second=1.0, burst=1, max_clients=2, clock=Clock())
    limiter.take("a")
    limiter.take("b")
    limiter.take("a")  # refused, but "a" is now the most recent
    limiter.take("c")  # evicts "b"
    assert limiter.take("a") > 0  # still remembered: still empty
    assert limiter.take("b") == 0.0  # forgotten: a fresh bucket


def test_bad_settings_and_which_paths_are_limited() -> None:
    with pytest.raises(ValueError):
        RateLimiter(per_second=0, burst=1)
    assert public_endpoint("/webhooks/tg") == "webhooks"
    assert public_endpoint("/chat/web/send") == "webchat"
    assert public_endpoint("/chat/widget.js") is None
    assert public_endpoint("/api/v1/conversations") is None
