"""Records for the store conformance suite: caches, unit vectors and entries."""

from __future__ import annotations

import itertools

import numpy as np

from semcache.store.base import CacheConfig, Entry
from semcache.types import Attributes, CacheId, Millis, Vector

__all__ = [
    "CACHE",
    "HOUR",
    "NOW",
    "ODD_VALUES",
    "OTHER_CACHE",
    "EntryFactory",
    "VectorFactory",
    "cache_config",
]

NOW: Millis = 1_700_000_000_000
HOUR: Millis = 3_600_000
CACHE = "cache-a"
OTHER_CACHE = "cache-b"

ODD_VALUES = [
    "a,b,c",
    "path/to/thing",
    "back\\slash",
    "percent%2Fencoded%20value%25",
    "ünïcödé ✓ 日本語 🙂",
    "quote\" and ' apostrophe",
    "  padded  ",
    "",
    "line\nbreak\ttab",
    "=&?#;:",
]


def cache_config(cache_id: CacheId, created_at: Millis = NOW) -> CacheConfig:
    """A cache with settings in every field, so a round trip is a real test."""
    return CacheConfig(
        id=cache_id,
        name=f"name of {cache_id}",
        embedder="fake",
        created_at=created_at,
        attributes=("user", "topic"),
        similarity_threshold=0.9,
        ttl_millis=HOUR,
        options={"note": "ünïcödé"},
    )


class VectorFactory:
    """Random unit vectors of one dimension, from a fixed seed."""

    def __init__(self, dimension: int, seed: int = 1234) -> None:
        self.dimension = dimension
        self._random = np.random.default_rng(seed)

    def __call__(self, *, near: Vector | None = None, noise: float = 0.1) -> Vector:
        vector = self._random.standard_normal(self.dimension).astype(np.float32)
        if near is not None:
            vector = near + noise * vector / np.linalg.norm(vector)
        return (vector / np.linalg.norm(vector)).astype(np.float32)


class EntryFactory:
    """Entries with unique IDs, a random vector and a clock just before ``now``."""

    def __init__(self, make_vector: VectorFactory) -> None:
        self._make_vector = make_vector
        self._serial = itertools.count(1)

    def __call__(
        self,
        prompt: str | None = None,
        *,
        cache_id: CacheId = CACHE,
        entry_id: str | None = None,
        response: str | None = None,
        attributes: Attributes | None = None,
        vector: Vector | None = None,
        created_at: Millis | None = None,
        expires_at: Millis | None = None,
    ) -> Entry:
        serial = next(self._serial)
        return Entry(
            cache_id=cache_id,
            id=entry_id or f"entry-{serial}",
            prompt=f"prompt {serial}" if prompt is None else prompt,
            response=f"response {serial}" if response is None else response,
            attributes=dict(attributes or {}),
            created_at=NOW - 1_000_000 + serial if created_at is None else created_at,
            expires_at=expires_at,
            vector=self._make_vector() if vector is None else vector,
        )
