from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from semcache.store import _sqlite_vectors as vectors
from semcache.store.vector_index import IndexKind, Labels, VectorIndex, best_first
from semcache.types import Vector, Vectors

__all__ = ["PendingView", "pending_view"]


class PendingView:
    """A graph that may not change (it is being saved) searched together with the changes
    made since: vectors put since are scored exactly, labels deleted since are skipped.
    Read-only; it lives for one search."""

    kind: IndexKind = "hnsw"

    def __init__(
        self,
        graph: VectorIndex | None,
        dimension: int,
        added: tuple[Labels, Vectors],
        removed: set[int],
    ) -> None:
        self.dimension = dimension
        self._graph = graph
        self._added_labels, self._added_vectors = added
        self._removed = np.fromiter(removed, dtype=np.int64, count=len(removed))

    def __len__(self) -> int:
        held = 0 if self._graph is None else len(self._graph)
        return held + len(self._added_labels)

    def add(self, labels: Labels, vectors: Vectors) -> None:
        raise RuntimeError("a pending view is read-only")

    def remove(self, labels: Iterable[int]) -> int:
        raise RuntimeError("a pending view is read-only")

    def query(self, vector: Vector, k: int) -> tuple[Labels, npt.NDArray[np.float32]]:
        labels: list[Labels] = []
        scores: list[npt.NDArray[np.float32]] = []
        if self._graph is not None and len(self._graph):
            found, similarity = self._graph.query(vector, k + len(self._removed))
            keep = ~np.isin(found, self._removed)
            labels.append(found[keep])
            scores.append(similarity[keep])
        if len(self._added_labels):
            labels.append(self._added_labels)
            scores.append(self._added_vectors @ vector)
        if not labels:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        every, similarities = np.concatenate(labels), np.concatenate(scores)
        best = best_first(similarities, k)
        return every[best], similarities[best]


def pending_view(
    connection: sqlite3.Connection,
    graph: VectorIndex,
    changes: Sequence[vectors.Change],
) -> PendingView:
    """``graph`` as it would be after ``changes``, without changing it."""
    base: VectorIndex | None = graph
    clears = [position for position, change in enumerate(changes) if change.op == "clear"]
    if clears:
        base, changes = None, changes[clears[-1] + 1 :]
    added: dict[int, None] = {}
    removed: set[int] = set()
    for change in changes:
        if change.entry is None:
            continue
        if change.op == "put":
            added[change.entry] = None
        elif change.entry in added:
            del added[change.entry]
        else:
            removed.add(change.entry)
    fresh = vectors.vectors_of(connection, list(added), graph.dimension)
    return PendingView(base, graph.dimension, fresh, removed)
