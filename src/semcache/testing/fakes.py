"""Stand-ins for slow or outside components, for tests that do not exercise them."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Generic, TypeVar

import numpy as np

from semcache.embedding.base import Embedder
from semcache.embedding.verifier import Scores, Verifier
from semcache.types import Vectors

__all__ = ["FakeEmbedder", "FakeVerifier", "ManualClock"]

_N = TypeVar("_N", int, float)


class FakeEmbedder(Embedder):
    """Deterministic vectors from a hash of the case-folded text.

    Equal texts (ignoring case) get equal vectors; different texts get nearly orthogonal
    ones. A suffix ``"~k"`` makes a near miss on purpose: the cosine similarity of
    ``"cat~k"`` to ``"cat"`` is exactly ``1 / sqrt(1 + (0.3 k)^2)``, so about 0.958 for
    ``~1``, 0.857 for ``~2`` and 0.743 for ``~3``.
    """

    name = "fake"

    def __init__(self, dimension: int = 64) -> None:
        self.dimension = dimension
        self.calls = 0

    async def _embed(self, texts: list[str]) -> Vectors:
        self.calls += 1
        return np.stack([self._vector(text) for text in texts])

    def _vector(self, text: str) -> Vectors:
        folded = text.casefold()
        base, _, steps = folded.partition("~")
        vector = _unit(base, self.dimension)
        if steps.isdigit():
            noise = _unit(folded, self.dimension)
            noise = noise - (noise @ vector) * vector
            vector = vector + 0.3 * int(steps) * noise / np.linalg.norm(noise)
        return vector.astype(np.float32)


def _unit(text: str, dimension: int) -> Vectors:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dimension)
    return (vector / np.linalg.norm(vector)).astype(np.float64)


class FakeVerifier(Verifier):
    """Scores pairs from a table, in either order, else 1.0 for texts equal ignoring case and
    a ``"~k"`` suffix and ``default`` for the rest. ``batches`` records every call's pairs."""

    name = "fake-verifier"

    def __init__(
        self,
        scores: Mapping[tuple[str, str], float] | None = None,
        *,
        default: float = 0.0,
        default_threshold: float = 0.5,
        min_cosine: Mapping[str, float] | None = None,
    ) -> None:
        self.scores = dict(scores or {})
        self.default = default
        self.default_threshold = default_threshold
        self.min_cosine = dict(min_cosine or {})
        self.batches: list[list[tuple[str, str]]] = []

    async def _score(self, pairs: list[tuple[str, str]]) -> Scores:
        self.batches.append(pairs)
        return np.array([self._one(a, b) for a, b in pairs], dtype=np.float64)

    def _one(self, a: str, b: str) -> float:
        for key in ((a, b), (b, a)):
            if key in self.scores:
                return self.scores[key]
        if a.casefold().partition("~")[0] == b.casefold().partition("~")[0]:
            return 1.0
        return self.default


class ManualClock(Generic[_N]):
    """A clock that reads ``now``, and moves only when a test moves it."""

    def __init__(self, now: _N) -> None:
        self.now: _N = now

    def __call__(self) -> _N:
        return self.now
