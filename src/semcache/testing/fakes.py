"""Stand-ins for slow or outside components, for tests that do not exercise them."""

from __future__ import annotations

import hashlib

import numpy as np

from semcache.embedding.base import Embedder
from semcache.types import Vectors

__all__ = ["FakeEmbedder"]


class FakeEmbedder(Embedder):
    """Deterministic vectors from a hash of the case-folded text.

    Equal texts (ignoring case) get equal vectors; different texts get nearly orthogonal
    ones. Texts that differ only by a trailing ``"~"`` and a digit get similar vectors, so
    tests can make near misses on purpose: ``"cat~1"`` is close to ``"cat"``.
    """

    name = "fake"

    def __init__(self, dimension: int = 64) -> None:
        self.dimension = dimension
        self.calls = 0

    async def _embed(self, texts: list[str]) -> Vectors:
        self.calls += 1
        return np.stack([self._vector(text) for text in texts])

    def _vector(self, text: str) -> Vectors:
        base, _, noise = text.casefold().partition("~")
        vector = _seeded(base, self.dimension)
        if noise:
            vector = vector + 0.3 * int(noise or 0) * _seeded(text, self.dimension)
        return vector.astype(np.float32)


def _seeded(text: str, dimension: int) -> Vectors:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(dimension).astype(np.float32)
