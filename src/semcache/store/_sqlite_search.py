from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from semcache.errors import StoreError
from semcache.store import _sqlite_vectors as vectors
from semcache.store._sqlite_index import CacheIndexes
from semcache.store.base import Match, matches_attributes
from semcache.store.vector_index import Labels, best_first
from semcache.types import Attributes, CacheId, Millis, Vector

__all__ = ["DEFAULT_FILTER_EXACT_LIMIT", "SearchRequest", "search", "unit_vector"]

DEFAULT_FILTER_EXACT_LIMIT = 20_000
"""An attribute filter matching at most this many entries is answered exactly, by scoring
just those entries' vectors, whatever the size of the cache."""
_GROWTH = 4


@dataclass(frozen=True, slots=True)
class SearchRequest:
    cache_id: CacheId
    vector: Vector
    attributes: Attributes
    now: Millis
    limit: int


def unit_vector(vector: Vector, dimension: int | None = None) -> Vector:
    """``vector`` as a float32 unit vector; a StoreError if it is empty, zero, not finite or
    not of ``dimension``."""
    values = np.asarray(vector, dtype=np.float32).reshape(-1)
    if dimension is not None and values.shape[0] != dimension:
        raise StoreError(f"vector has {values.shape[0]} dimensions, the cache has {dimension}")
    norm = float(np.linalg.norm(values))
    if values.shape[0] == 0 or not math.isfinite(norm) or norm == 0.0:
        raise StoreError("vector must be non-empty, finite and not zero")
    return values / np.float32(norm)


def search(
    connection: sqlite3.Connection,
    indexes: CacheIndexes,
    request: SearchRequest,
    *,
    filter_exact_limit: int,
) -> list[Match]:
    """Best-first live matches: exact over the filter's candidates when they are few,
    otherwise from the cache's vector index, widening until enough are confirmed."""
    if request.limit <= 0:
        return []
    dimension = vectors.cache_dimension(connection, request.cache_id)
    if dimension is None:
        return []
    query = unit_vector(request.vector, dimension)
    candidates = None
    if request.attributes:
        candidates = vectors.candidate_count(connection, request.cache_id, request.attributes)
        if candidates == 0:
            return []
        if candidates <= filter_exact_limit:
            return _search_candidates(connection, request, query, dimension)
    return _search_index(connection, indexes, request, query, dimension, candidates)


def _search_candidates(
    connection: sqlite3.Connection, request: SearchRequest, query: Vector, dimension: int
) -> list[Match]:
    labels, candidate_vectors = vectors.candidate_vectors(
        connection, request.cache_id, request.attributes, request.now, dimension
    )
    similarities = candidate_vectors @ query
    best = best_first(similarities, request.limit)
    return _confirm(connection, request, labels[best], similarities[best])


def _search_index(
    connection: sqlite3.Connection,
    indexes: CacheIndexes,
    request: SearchRequest,
    query: Vector,
    dimension: int,
    candidates: int | None,
) -> list[Match]:
    k = 2 * request.limit + 8
    if candidates:
        # Expect one in size/candidates neighbours to carry the attributes.
        size = indexes.size(connection, request.cache_id, dimension)
        k = math.ceil(k * size / candidates)
    while True:
        labels, similarities, size = indexes.query(
            connection, request.cache_id, dimension, query, k
        )
        matches = _confirm(connection, request, labels, similarities)
        if len(matches) >= request.limit or k >= size:
            return matches[: request.limit]
        k *= _GROWTH


def _confirm(
    connection: sqlite3.Connection,
    request: SearchRequest,
    labels: Labels,
    similarities: npt.NDArray[np.float32],
) -> list[Match]:
    """The ranked labels that are live entries of the cache carrying the attributes, read
    from SQLite in rank order until ``limit`` are found: a stale index never leaks."""
    matches: list[Match] = []
    step = max(2 * request.limit, 16)
    ranked = labels.tolist()
    for start in range(0, len(ranked), step):
        chunk = ranked[start : start + step]
        entries = vectors.entries_by_row(connection, request.cache_id, chunk, request.now)
        for position, label in enumerate(chunk, start):
            entry = entries.get(label)
            if entry is None or not entry.is_live(request.now):
                continue
            if not matches_attributes(entry.attributes, request.attributes):
                continue
            similarity = min(1.0, max(-1.0, float(similarities[position])))
            matches.append(Match(entry=entry, similarity=similarity))
        if len(matches) >= request.limit:
            break
    return matches
