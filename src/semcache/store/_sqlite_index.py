from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from semcache.store import _sqlite_vectors as vectors
from semcache.store._index_snapshot import load_snapshot, remove_snapshots, save_snapshot
from semcache.store._sqlite_executor import SQLiteExecutor
from semcache.store.vector_index import (
    DEFAULT_EF_CONSTRUCTION,
    DEFAULT_EF_SEARCH,
    DEFAULT_M,
    ExactIndex,
    HNSWIndex,
    IndexKind,
    Labels,
    VectorIndex,
)
from semcache.types import CacheId, Vector

__all__ = [
    "DEFAULT_HNSW_THRESHOLD",
    "DEFAULT_LOG_RETENTION",
    "DEFAULT_SNAPSHOT_EVERY",
    "CacheIndexes",
    "IndexOptions",
    "IndexStats",
]

logger = logging.getLogger(__name__)

DEFAULT_HNSW_THRESHOLD = 20_000
"""A cache holding more vectors than this is searched with HNSW instead of exactly."""
DEFAULT_SNAPSHOT_EVERY = 10_000
"""Save an HNSW index once this many changes were applied since it was last saved."""
DEFAULT_LOG_RETENTION = 100_000
"""Changes kept in the log beyond what snapshots need, so idle readers can catch up."""


@dataclass(frozen=True, slots=True)
class IndexOptions:
    hnsw_threshold: int = DEFAULT_HNSW_THRESHOLD
    snapshot_every: int = DEFAULT_SNAPSHOT_EVERY
    log_retention: int = DEFAULT_LOG_RETENTION
    m: int = DEFAULT_M
    ef_construction: int = DEFAULT_EF_CONSTRUCTION
    ef_search: int = DEFAULT_EF_SEARCH


@dataclass(frozen=True, slots=True)
class IndexStats:
    """How a cache's vector index in this process came to hold what it holds.

    ``from_snapshot`` vectors were read from a saved HNSW file, ``from_table`` from the
    entries table by full loads (``full_loads`` of them), ``replayed`` were added and
    ``removed`` taken out while catching up with the change log. ``seq`` is the last change
    applied; ``snapshot_seq`` the seq of the snapshot last loaded or saved.
    """

    kind: IndexKind
    size: int
    seq: int
    from_snapshot: int = 0
    from_table: int = 0
    full_loads: int = 0
    replayed: int = 0
    removed: int = 0
    snapshot_seq: int | None = None


class _Slot:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.index: VectorIndex | None = None
        self.seq = 0
        self.unsaved = 0
        self.saving = False
        self.stats = IndexStats(kind="exact", size=0, seq=0)

    def count(self, **increments: int) -> None:
        updated = {name: getattr(self.stats, name) + n for name, n in increments.items()}
        self.stats = replace(self.stats, **updated)


@contextlib.contextmanager
def _read_transaction(connection: sqlite3.Connection) -> Iterator[None]:
    connection.execute("BEGIN")
    try:
        yield
    finally:
        if connection.in_transaction:
            connection.execute("COMMIT")


class CacheIndexes:
    """One vector index per cache, derived from SQLite and brought up to date with the
    change log before every use, so that every process over a directory agrees."""

    def __init__(self, directory: Path, options: IndexOptions, executor: SQLiteExecutor) -> None:
        self._directory = directory
        self._options = options
        self._executor = executor
        self._slots: dict[CacheId, _Slot] = {}
        self._slots_lock = threading.Lock()
        self._maintenance = ThreadPoolExecutor(1, thread_name_prefix="semcache-index")
        self._closed = False

    def query(
        self,
        connection: sqlite3.Connection,
        cache_id: CacheId,
        dimension: int,
        vector: Vector,
        k: int,
    ) -> tuple[Labels, npt.NDArray[np.float32], int]:
        """The ``k`` nearest labels with similarities, and the index size, after catching up."""
        slot = self._slot(cache_id)
        with slot.lock:
            index = self._synced(connection, slot, cache_id, dimension)
            labels, similarities = index.query(vector, k)
            size = len(index)
            self._schedule_save(cache_id, slot)
        return labels, similarities, size

    def size(self, connection: sqlite3.Connection, cache_id: CacheId, dimension: int) -> int:
        """How many vectors the cache's index holds, after catching up."""
        slot = self._slot(cache_id)
        with slot.lock:
            return len(self._synced(connection, slot, cache_id, dimension))

    def stats(self, cache_id: CacheId) -> IndexStats | None:
        slot = self._slots.get(cache_id)
        return None if slot is None or slot.index is None else slot.stats

    def forget(self, cache_id: CacheId) -> None:
        """Drop the cache's index and its snapshots (after a clear or a delete)."""
        slot = self._slot(cache_id)
        with slot.lock:
            slot.index = None
            slot.unsaved = 0
            remove_snapshots(self._directory, cache_id)

    def preload(self, cache_ids: Iterable[CacheId]) -> None:
        """Load these caches' indexes in the background."""
        for cache_id in cache_ids:
            self._maintenance.submit(self._preload_one, cache_id)

    def close(self) -> None:
        """Finish background work and save every HNSW index with unsaved changes."""
        self._closed = True
        self._maintenance.shutdown(wait=True)
        for cache_id, slot in list(self._slots.items()):
            try:
                self._save(cache_id, slot)
            except Exception:
                logger.exception("could not save the vector index of cache %r", cache_id)

    def _slot(self, cache_id: CacheId) -> _Slot:
        with self._slots_lock:
            return self._slots.setdefault(cache_id, _Slot())

    def _synced(
        self, connection: sqlite3.Connection, slot: _Slot, cache_id: CacheId, dimension: int
    ) -> VectorIndex:
        with _read_transaction(connection):
            stale = slot.index is None or slot.index.dimension != dimension
            if stale or slot.seq < vectors.pruned_through(connection):
                self._load(connection, slot, cache_id, dimension)
            else:
                self._catch_up(connection, slot, cache_id, dimension)
        if slot.index is None:  # pragma: no cover - _load always sets it
            raise RuntimeError("index not loaded")
        slot.stats = replace(slot.stats, kind=slot.index.kind, size=len(slot.index), seq=slot.seq)
        return slot.index

    def _catch_up(
        self, connection: sqlite3.Connection, slot: _Slot, cache_id: CacheId, dimension: int
    ) -> None:
        head = vectors.last_seq(connection)
        changes = vectors.changes_since(connection, cache_id, slot.seq)
        if changes:
            self._apply(connection, slot, changes, dimension)
        slot.seq = head

    def _apply(
        self,
        connection: sqlite3.Connection,
        slot: _Slot,
        changes: list[vectors.Change],
        dimension: int,
    ) -> None:
        clears = [position for position, change in enumerate(changes) if change.op == "clear"]
        if clears or slot.index is None:
            slot.index = ExactIndex(dimension)
            changes = changes[clears[-1] + 1 :] if clears else changes
        gone = [change.entry for change in changes if change.op == "delete" and change.entry]
        removed = slot.index.remove(gone)
        puts = [change.entry for change in changes if change.op == "put" and change.entry]
        labels, added = vectors.vectors_of(connection, puts, dimension)
        slot.index.add(labels, added)
        slot.count(replayed=len(labels), removed=removed)
        slot.unsaved += len(labels) + removed
        self._convert_if_large(slot)

    def _convert_if_large(self, slot: _Slot) -> None:
        index = slot.index
        if not isinstance(index, ExactIndex) or len(index) <= self._options.hnsw_threshold:
            return
        labels, held = index.items()
        graph = self._new_hnsw(index.dimension, len(labels))
        graph.add(labels, held)
        slot.index = graph
        slot.unsaved = len(graph)

    def _new_hnsw(self, dimension: int, expected: int) -> HNSWIndex:
        return HNSWIndex(
            dimension,
            capacity=max(1024, expected + expected // 4),
            m=self._options.m,
            ef_construction=self._options.ef_construction,
            ef_search=self._options.ef_search,
        )

    def _load(
        self, connection: sqlite3.Connection, slot: _Slot, cache_id: CacheId, dimension: int
    ) -> None:
        rows = vectors.count_rows(connection, cache_id)
        if rows > self._options.hnsw_threshold and self._load_snapshot(
            connection, slot, cache_id, dimension, rows
        ):
            return
        self._load_table(connection, slot, cache_id, dimension, rows)

    def _load_snapshot(
        self,
        connection: sqlite3.Connection,
        slot: _Slot,
        cache_id: CacheId,
        dimension: int,
        rows: int,
    ) -> bool:
        seq_range = (vectors.pruned_through(connection), vectors.last_seq(connection))
        loaded = load_snapshot(
            self._directory,
            cache_id,
            dimension=dimension,
            seq_range=seq_range,
            ef_search=self._options.ef_search,
        )
        if loaded is None:
            return False
        index, info = loaded
        slot.index, slot.seq, slot.unsaved = index, info.seq, 0
        slot.count(from_snapshot=info.live)
        slot.stats = replace(slot.stats, snapshot_seq=info.seq)
        self._catch_up(connection, slot, cache_id, dimension)
        if len(slot.index) == rows:
            return True
        logger.warning(
            "index snapshot %s holds %d vectors where the table has %d; rebuilding",
            info.path,
            len(slot.index),
            rows,
        )
        return False

    def _load_table(
        self,
        connection: sqlite3.Connection,
        slot: _Slot,
        cache_id: CacheId,
        dimension: int,
        rows: int,
    ) -> None:
        index: VectorIndex
        if rows > self._options.hnsw_threshold:
            index = self._new_hnsw(dimension, rows)
        else:
            index = ExactIndex(dimension, capacity=max(rows, 1024))
        head = vectors.last_seq(connection)
        for labels, chunk in vectors.iter_vectors(connection, cache_id, dimension):
            index.add(labels, chunk)
        slot.index, slot.seq = index, head
        slot.unsaved = len(index) if isinstance(index, HNSWIndex) else 0
        slot.count(from_table=len(index), full_loads=1)

    def _schedule_save(self, cache_id: CacheId, slot: _Slot) -> None:
        wanted = slot.unsaved >= self._options.snapshot_every
        if wanted and isinstance(slot.index, HNSWIndex) and not slot.saving and not self._closed:
            slot.saving = True
            self._maintenance.submit(self._save_in_background, cache_id, slot)

    def _save_in_background(self, cache_id: CacheId, slot: _Slot) -> None:
        try:
            self._save(cache_id, slot)
        except Exception:
            logger.exception("could not save the vector index of cache %r", cache_id)
        finally:
            slot.saving = False

    def _save(self, cache_id: CacheId, slot: _Slot) -> None:
        with slot.lock:
            index = slot.index
            if not isinstance(index, HNSWIndex) or slot.unsaved == 0:
                return
            info = save_snapshot(self._directory, cache_id, index, slot.seq)
            if info is None:
                return
            slot.unsaved = 0
            slot.stats = replace(slot.stats, snapshot_seq=info.seq)
        saved_at = int(time.time() * 1000)
        options = self._options

        def record(connection: sqlite3.Connection) -> None:
            vectors.record_snapshot(connection, cache_id, info.seq, saved_at)
            vectors.prune_changes(connection, keep=options.log_retention, batch=50_000)

        self._executor.submit_write(record).result()

    def _preload_one(self, cache_id: CacheId) -> None:
        def load(connection: sqlite3.Connection) -> None:
            dimension = vectors.cache_dimension(connection, cache_id)
            if dimension is not None:
                slot = self._slot(cache_id)
                with slot.lock:
                    self._synced(connection, slot, cache_id, dimension)

        try:
            self._executor.read_sync(load)
        except Exception:
            logger.exception("could not load the vector index of cache %r", cache_id)
