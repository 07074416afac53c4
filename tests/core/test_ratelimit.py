from __future__ import annotations

import pytest

from semcache.core.ratelimit import RateLimit, RateLimiter
from semcache.errors import ConfigError, TooManyRequests
from semcache.testing.fakes import ManualClock


def test_off_by_default() -> None:
    limiter = RateLimiter(RateLimit())
    for _ in range(10_000):
        limiter.acquire("k")


def test_a_burst_then_the_rate() -> None:
    clock = ManualClock(100.0)
    limiter = RateLimiter(RateLimit(per_second=2, burst=3), clock=clock)
    for _ in range(3):
        limiter.acquire("k")
    with pytest.raises(TooManyRequests) as refused:
        limiter.acquire("k")
    assert refused.value.status_code == 429 and refused.value.retry_after_seconds == 1
    limiter.acquire("other key")  # every key has its own bucket
    clock.now += 0.5
    limiter.acquire("k")
    with pytest.raises(TooManyRequests):
        limiter.acquire("k")


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    clock = ManualClock(100.0)
    limiter = RateLimiter(RateLimit(per_second=0.25), clock=clock)
    limiter.acquire("k")
    with pytest.raises(TooManyRequests) as refused:
        limiter.acquire("k")
    assert refused.value.retry_after_seconds == 4
    clock.now += 4
    limiter.acquire("k")


@pytest.mark.parametrize("limit", [{"per_second": -1}, {"burst": -1}, {"per_second": float("inf")}])
def test_bad_limits_are_refused(limit: dict) -> None:
    with pytest.raises(ConfigError):
        RateLimit(**limit)
