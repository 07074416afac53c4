"""A rate limit per API key: a token bucket for each key, held in this process."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from semcache.errors import ConfigError, TooManyRequests

__all__ = ["RateLimit", "RateLimiter"]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``per_second`` requests a second on average, and up to ``burst`` at once.

    A ``per_second`` of 0 means no limit; a ``burst`` of 0 means one second's worth (at
    least one request).
    """

    per_second: float = 0.0
    burst: int = 0

    def __post_init__(self) -> None:
        if not (self.per_second >= 0 and math.isfinite(self.per_second)):
            raise ConfigError(f"rate_limit_per_second must be 0 or more, got {self.per_second}")
        if self.burst < 0:
            raise ConfigError(f"rate_limit_burst must be 0 or more, got {self.burst}")

    @property
    def enabled(self) -> bool:
        return self.per_second > 0

    @property
    def capacity(self) -> float:
        return float(self.burst) if self.burst else max(1.0, self.per_second)


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Takes one token from a key's bucket per request, or refuses with `TooManyRequests`.

    Buckets are kept per process: with several server processes, each one applies the
    limit to the requests it receives.
    """

    def __init__(self, limit: RateLimit, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def acquire(self, key_id: str) -> None:
        """Count one request of ``key_id``.

        Raises:
            TooManyRequests: the key's bucket is empty; ``retry_after_seconds`` says when
                the next request will be accepted.
        """
        if not self.limit.enabled:
            return
        now = self.clock()
        capacity, rate = self.limit.capacity, self.limit.per_second
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = _Bucket(capacity, now)
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return
        wait = (1 - bucket.tokens) / rate
        raise TooManyRequests(
            f"this API key is limited to {rate:g} requests a second; try again in {wait:.2f} s",
            retry_after_seconds=max(1, math.ceil(wait)),
        )
