"""In-memory vector indexes over unit vectors, labelled by integer ids.

`ExactIndex` scores every vector with one matrix product; `HNSWIndex` wraps hnswlib for large
collections. Both answer by inner product, which is cosine similarity for unit vectors. They
are not thread-safe: the caller serialises access.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, Protocol

import hnswlib
import numpy as np
import numpy.typing as npt

from semcache.types import Vector, Vectors

__all__ = [
    "DEFAULT_EF_CONSTRUCTION",
    "DEFAULT_EF_SEARCH",
    "DEFAULT_M",
    "ExactIndex",
    "HNSWIndex",
    "IndexKind",
    "Labels",
    "VectorIndex",
    "best_first",
]

Labels = npt.NDArray[np.int64]
IndexKind = Literal["exact", "hnsw"]

DEFAULT_M = 16
DEFAULT_EF_CONSTRUCTION = 200
DEFAULT_EF_SEARCH = 256
"""Candidates HNSW keeps while searching. On random 384-d unit vectors (a hard case) at
100,000, recall@1 of a near-duplicate (cosine 0.9) is 0.82 at 64, 0.96 at 128 and 0.998
at 256, for 0.25, 0.45 and 0.8 ms."""
_FIRST_EF = 64
_CONFIDENT = 0.85
"""A query first searches with breadth 64, and stops there if its best match is at least
0.85 similar, as a repeated or reworded prompt is; otherwise it searches again with the
full breadth. On MiniLM vectors (Quora questions, and stored ones moved to cosines 0.80 to
0.93 in random directions), of the queries that stopped at 0.85 one of 15,798 at 100,000
entries (which stops at 0.90 too) and none of 15,099 at 10,000 would have found a more
similar match at breadth 256 (bench/hnsw_first_pass.py). The first pass takes a fifth of
the time of the full one."""
_BULK = 1_000
"""Adds at least this large use every core; smaller ones stay on the calling thread."""


class VectorIndex(Protocol):
    """What the store needs from an index: add, remove, and the k most similar."""

    kind: IndexKind
    dimension: int

    def __len__(self) -> int: ...

    def add(self, labels: Labels, vectors: Vectors) -> None:
        """Add vectors under new labels (a known label has its vector replaced)."""
        ...

    def remove(self, labels: Iterable[int]) -> int:
        """Forget these labels (unknown ones are ignored); returns how many were held."""
        ...

    def query(self, vector: Vector, k: int) -> tuple[Labels, npt.NDArray[np.float32]]:
        """Up to ``k`` labels with their similarity to ``vector``, most similar first."""
        ...


def best_first(scores: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.intp]:
    """Positions of the ``k`` highest scores, highest first (ties keep their order)."""
    k = max(0, min(k, len(scores)))
    if k == 0:
        return np.empty(0, dtype=np.intp)
    best = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    return best[np.argsort(-scores[best], kind="stable")]


def _empty_result() -> tuple[Labels, npt.NDArray[np.float32]]:
    return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)


class ExactIndex:
    """Brute force: a dense matrix of vectors and one dot product per query."""

    kind: IndexKind = "exact"

    def __init__(self, dimension: int, *, capacity: int = 1024) -> None:
        self.dimension = dimension
        self._labels: Labels = np.empty(capacity, dtype=np.int64)
        self._vectors: Vectors = np.empty((capacity, dimension), dtype=np.float32)
        self._positions: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._positions)

    def add(self, labels: Labels, vectors: Vectors) -> None:
        self._reserve(len(self) + len(labels))
        for label, vector in zip(labels.tolist(), vectors, strict=True):
            position = self._positions.setdefault(label, len(self._positions))
            self._labels[position] = label
            self._vectors[position] = vector

    def remove(self, labels: Iterable[int]) -> int:
        removed = 0
        for label in labels:
            position = self._positions.pop(int(label), None)
            if position is None:
                continue
            removed += 1
            last = len(self._positions)
            if position != last:
                moved = int(self._labels[last])
                self._labels[position] = moved
                self._vectors[position] = self._vectors[last]
                self._positions[moved] = position
        return removed

    def query(self, vector: Vector, k: int) -> tuple[Labels, npt.NDArray[np.float32]]:
        size = len(self)
        k = min(k, size)
        if k <= 0:
            return _empty_result()
        scores = self._vectors[:size] @ vector
        best = best_first(scores, k)
        return self._labels[best].copy(), scores[best]

    def vectors(self, labels: Labels) -> tuple[Labels, Vectors]:
        """Those of ``labels`` the index holds, with their vectors."""
        size = len(self)
        held = np.isin(self._labels[:size], labels)
        return self._labels[:size][held], self._vectors[:size][held]

    def items(self) -> tuple[Labels, Vectors]:
        """Every label with its vector (copies)."""
        size = len(self)
        return self._labels[:size].copy(), self._vectors[:size].copy()

    def _reserve(self, size: int) -> None:
        capacity = len(self._labels)
        if size <= capacity:
            return
        capacity = max(size, capacity * 2)
        labels = np.empty(capacity, dtype=np.int64)
        vectors = np.empty((capacity, self.dimension), dtype=np.float32)
        held = len(self)
        labels[:held] = self._labels[:held]
        vectors[:held] = self._vectors[:held]
        self._labels, self._vectors = labels, vectors


class HNSWIndex:
    """An hnswlib graph in inner-product space; deleted slots are reused by later adds."""

    kind: IndexKind = "hnsw"

    def __init__(
        self,
        dimension: int,
        *,
        capacity: int = 1024,
        m: int = DEFAULT_M,
        ef_construction: int = DEFAULT_EF_CONSTRUCTION,
        ef_search: int = DEFAULT_EF_SEARCH,
        graph: Any = None,
        live: int = 0,
    ) -> None:
        self.dimension = dimension
        self.ef_search = ef_search
        if graph is None:
            graph = hnswlib.Index(space="ip", dim=dimension)
            graph.init_index(
                max(capacity, 16),
                M=m,
                ef_construction=ef_construction,
                allow_replace_deleted=True,
            )
        self._graph = graph
        self._live = live

    @classmethod
    def load(
        cls, path: Path, dimension: int, *, live: int, ef_search: int = DEFAULT_EF_SEARCH
    ) -> HNSWIndex:
        """Read an index written by `save`; ``live`` is how many of its labels are not
        deleted. Raises RuntimeError if the file is not a whole index."""
        graph = hnswlib.Index(space="ip", dim=dimension)
        graph.load_index(str(path), allow_replace_deleted=True)
        return cls(dimension, graph=graph, live=live, ef_search=ef_search)

    def save(self, path: Path) -> None:
        self._graph.save_index(str(path))

    def __len__(self) -> int:
        return self._live

    def add(self, labels: Labels, vectors: Vectors, *, threads: int | None = None) -> None:
        """Add vectors; ``threads`` defaults to every core for large batches, else one."""
        if len(labels) == 0:
            return
        needed = self._graph.element_count + len(labels)
        if needed > self._graph.max_elements:
            self._graph.resize_index(max(needed, 2 * self._graph.max_elements))
        if threads is None:
            threads = -1 if len(labels) >= _BULK else 1
        self._graph.add_items(vectors, labels, num_threads=threads, replace_deleted=True)
        self._live += len(labels)

    def remove(self, labels: Iterable[int]) -> int:
        removed = 0
        for label in labels:
            try:
                self._graph.mark_deleted(int(label))
            except RuntimeError:  # unknown, or deleted already
                continue
            removed += 1
        self._live -= removed
        return removed

    def query(self, vector: Vector, k: int) -> tuple[Labels, npt.NDArray[np.float32]]:
        k = min(k, self._live)
        ef = max(self.ef_search, 2 * k)
        first = max(_FIRST_EF, 2 * k)
        if first < ef:
            labels, similarities = self._search(vector, k, first)
            if len(labels) == k and similarities[0] >= _CONFIDENT:
                return labels, similarities
        return self._search(vector, k, ef)

    def _search(self, vector: Vector, k: int, ef: int) -> tuple[Labels, npt.NDArray[np.float32]]:
        limit = ef
        while k > 0:
            self._graph.set_ef(ef)
            try:
                labels, distances = self._graph.knn_query(vector, k=k, num_threads=1)
            except RuntimeError:
                # Fewer than k reachable, e.g. many deleted neighbours: widen, then narrow.
                if ef < 4 * max(limit, 2 * k):
                    ef *= 2
                else:
                    k //= 2
                continue
            similarities = (1.0 - distances[0]).astype(np.float32)
            return labels[0].astype(np.int64), similarities
        return _empty_result()
