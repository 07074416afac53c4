from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from semcache.store import _sqlite_vectors as vectors
from semcache.store._index_pending import pending_view
from semcache.store._index_refresh import QuietRefresher
from semcache.store._index_snapshot import load_snapshot, remove_snapshots, save_snapshot
from semcache.store._sqlite_executor import SQLiteExecutor
from semcache.store.vector_index import (
    DEFAULT_EF_CONSTRUCTION,
    DEFAULT_EF_SEARCH,
    DEFAULT_M,
    ExactIndex,
    HNSWIndex,
    IndexKind,
    VectorIndex,
)
from semcache.types import CacheId

__all__ = [
    "DEFAULT_HNSW_THRESHOLD",
    "DEFAULT_LOG_RETENTION",
    "DEFAULT_SNAPSHOT_EVERY",
    "CacheIndexes",
    "IndexOptions",
    "IndexStats",
]

logger = logging.getLogger(__name__)

DEFAULT_HNSW_THRESHOLD = 3_000
"""A cache holding more vectors than this is searched with HNSW instead of exactly. In the
server, an exact search reads the whole matrix from memory that the model's call has just
filled with its own: at 10,000 vectors of 384 dimensions it took 1.3-1.9 ms against HNSW's
0.2-0.3 ms, and the two were even at 2,000 (bench/ab.py)."""
DEFAULT_SNAPSHOT_EVERY = 10_000
"""Save an HNSW index once this many changes were applied since it was last saved."""
DEFAULT_LOG_RETENTION = 100_000
"""Changes kept in the log beyond what snapshots need, so idle readers can catch up."""
_INLINE_BUILD_WORK = 1_000_000
"""An HNSW graph of at most this many vectors x dimensions (about 2,600 of 384) is built
while the search waits; a larger one is built in the background while the exact index
goes on answering, so that no request waits seconds for a build."""
_BUILD_CHUNK = 2_000
"""Vectors added to a graph between checks that the store is not closing."""
_SAVE_SHARE = 50
"""A graph is saved once 1/50 of its size has changed, if that is more than
``snapshot_every``: at a million vectors, every 20,000 changes."""
_BACKGROUND_THREADS = max(1, (os.cpu_count() or 2) - 1)
"""Threads for a background build: one core stays free for searches and embedding."""


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
    ``removed`` taken out while catching up with the change log; ``conversions`` counts
    exact indexes replaced by HNSW. ``seq`` is the last change applied; ``snapshot_seq``
    the seq of the snapshot last loaded or saved.
    """

    kind: IndexKind
    size: int
    seq: int
    from_snapshot: int = 0
    from_table: int = 0
    full_loads: int = 0
    replayed: int = 0
    removed: int = 0
    conversions: int = 0
    snapshot_seq: int | None = None


class _Slot:
    """One cache's index and what is known about it; every field is guarded by ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.index: VectorIndex | None = None
        self.generation = 0  # bumped whenever `index` is replaced
        self.seq = 0
        self.unsaved = 0
        self.busy = False  # a background save or build is queued or running
        self.frozen = False  # `index` is being saved: searches must not change it
        self.saving = threading.Lock()  # held for a whole save, outside `lock`
        self.stats = IndexStats(kind="exact", size=0, seq=0)

    def install(self, index: VectorIndex, seq: int) -> None:
        self.index, self.seq = index, seq
        self.generation += 1

    def count(self, **increments: int) -> None:
        updated = {name: getattr(self.stats, name) + n for name, n in increments.items()}
        self.stats = replace(self.stats, **updated)


_Task = Callable[[CacheId, _Slot], None]


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
        self._refresher = QuietRefresher(self._refresh)
        self._closed = False

    @contextlib.contextmanager
    def locked(
        self, connection: sqlite3.Connection, cache_id: CacheId, dimension: int
    ) -> Iterator[VectorIndex]:
        """Hold the cache's index, caught up with the log, within one read transaction:
        while held, the index has exactly the rows that ``connection`` sees."""
        slot = self._slot(cache_id)
        with slot.lock:
            current = self._current(connection, slot, dimension)
            if current is not None:
                yield current
            else:
                with _read_transaction(connection):
                    yield self._synced(connection, slot, cache_id, dimension)
            self._schedule_maintenance(cache_id, slot)

    def stats(self, cache_id: CacheId) -> IndexStats | None:
        slot = self._slots.get(cache_id)
        index = None if slot is None else slot.index
        if slot is None or index is None:
            return None
        # Read without the lock, which a save may hold for seconds: a diagnostic may be
        # a moment out of date, but must not block the event loop.
        return replace(slot.stats, kind=index.kind, size=len(index), seq=slot.seq)

    def forget(self, cache_id: CacheId) -> None:
        """Drop the cache's index and its snapshots (after a clear or a delete)."""
        slot = self._slot(cache_id)
        with slot.saving, slot.lock:
            slot.index = None
            slot.generation += 1
            slot.unsaved = 0
            remove_snapshots(self._directory, cache_id)

    def written(self, cache_id: CacheId) -> None:
        """Note a committed write to the cache: its index, if loaded, is brought up to date
        in the background once writes pause."""
        self._refresher.wrote(cache_id)

    def preload(self, cache_ids: list[CacheId]) -> None:
        """Load these caches' indexes in the background."""
        for cache_id in cache_ids:
            self._maintenance.submit(
                self._run, self._bring_up_to_date, cache_id, self._slot(cache_id)
            )

    def close(self) -> None:
        """Stop background work and save every HNSW index with unsaved changes."""
        self._closed = True
        self._refresher.close()
        self._maintenance.shutdown(wait=True, cancel_futures=True)
        for cache_id, slot in list(self._slots.items()):
            self._run(self._save, cache_id, slot)

    def _slot(self, cache_id: CacheId) -> _Slot:
        with self._slots_lock:
            return self._slots.setdefault(cache_id, _Slot())

    def _current(
        self, connection: sqlite3.Connection, slot: _Slot, dimension: int
    ) -> VectorIndex | None:
        """The index, if nothing was written anywhere since it was brought up to date: then
        it has the rows that ``connection`` sees without a transaction, and a search makes
        one statement here instead of three (each lets go of the interpreter lock, and a
        reader thread waits to take it back under load). An index `_synced` left behind
        never needs converting, so only a save in progress sends the search the long way."""
        index = slot.index
        if (
            index is None
            or index.dimension != dimension
            or slot.frozen
            or vectors.last_seq(connection) != slot.seq
        ):
            return None
        return index

    def _synced(
        self, connection: sqlite3.Connection, slot: _Slot, cache_id: CacheId, dimension: int
    ) -> VectorIndex:
        index = slot.index
        if (
            index is None
            or index.dimension != dimension
            or slot.seq < vectors.pruned_through(connection)
        ):
            index = self._load(connection, slot, cache_id, dimension)
        elif slot.frozen:
            return pending_view(
                connection, index, vectors.changes_since(connection, cache_id, slot.seq)
            )
        else:
            self._catch_up(connection, slot, index, cache_id)
            index = slot.index or index
        if isinstance(index, ExactIndex) and self._builds_inline(index):
            index = self._convert(slot, index)
        return index

    def _catch_up(
        self, connection: sqlite3.Connection, slot: _Slot, index: VectorIndex, cache_id: CacheId
    ) -> None:
        head = vectors.last_seq(connection)
        if head == slot.seq:  # nothing was written anywhere since: the common case
            return
        changes = vectors.changes_since(connection, cache_id, slot.seq)
        clears = [position for position, change in enumerate(changes) if change.op == "clear"]
        if clears:
            index = ExactIndex(index.dimension)
            slot.install(index, slot.seq)
            changes = changes[clears[-1] + 1 :]
        gone = [change.entry for change in changes if change.op == "delete" and change.entry]
        removed = index.remove(gone)
        puts = [change.entry for change in changes if change.op == "put" and change.entry]
        labels, added = vectors.vectors_of(connection, puts, index.dimension)
        index.add(labels, added)
        slot.seq = head
        slot.count(replayed=len(labels), removed=removed)
        slot.unsaved += len(labels) + removed

    def _load(
        self, connection: sqlite3.Connection, slot: _Slot, cache_id: CacheId, dimension: int
    ) -> VectorIndex:
        rows = vectors.count_rows(connection, cache_id)
        if rows > self._options.hnsw_threshold:
            index = self._load_snapshot(connection, slot, cache_id, dimension, rows)
            if index is not None:
                return index
        return self._load_table(connection, slot, cache_id, dimension, rows)

    def _load_snapshot(
        self,
        connection: sqlite3.Connection,
        slot: _Slot,
        cache_id: CacheId,
        dimension: int,
        rows: int,
    ) -> VectorIndex | None:
        seq_range = (vectors.pruned_through(connection), vectors.last_seq(connection))
        loaded = load_snapshot(
            self._directory,
            cache_id,
            dimension=dimension,
            seq_range=seq_range,
            ef_search=self._options.ef_search,
        )
        if loaded is None:
            return None
        index, info = loaded
        slot.install(index, info.seq)
        slot.unsaved = 0
        slot.count(from_snapshot=info.live)
        slot.stats = replace(slot.stats, snapshot_seq=info.seq)
        self._catch_up(connection, slot, index, cache_id)
        if slot.index is index and len(index) == rows:
            return index
        logger.warning(
            "index snapshot %s holds %d vectors where the table has %d; rebuilding",
            info.path,
            len(index),
            rows,
        )
        return None

    def _load_table(
        self,
        connection: sqlite3.Connection,
        slot: _Slot,
        cache_id: CacheId,
        dimension: int,
        rows: int,
    ) -> VectorIndex:
        # Always exact first: reading vectors is quick, and a large cache is then moved to
        # HNSW by a build in the background.
        index = ExactIndex(dimension, capacity=max(rows, 1024))
        head = vectors.last_seq(connection)
        for labels, chunk in vectors.iter_vectors(connection, cache_id, dimension):
            index.add(labels, chunk)
        slot.install(index, head)
        slot.unsaved = 0
        slot.count(from_table=len(index), full_loads=1)
        return index

    def _builds_inline(self, index: ExactIndex) -> bool:
        large = len(index) > self._options.hnsw_threshold
        return large and len(index) * index.dimension <= _INLINE_BUILD_WORK

    def _convert(self, slot: _Slot, index: ExactIndex) -> HNSWIndex:
        labels, held = index.items()
        graph = self._new_hnsw(index.dimension, len(labels))
        graph.add(labels, held)
        slot.install(graph, slot.seq)
        slot.unsaved = len(graph)
        slot.count(conversions=1)
        return graph

    def _new_hnsw(self, dimension: int, expected: int) -> HNSWIndex:
        return HNSWIndex(
            dimension,
            capacity=max(1024, expected + expected // 4),
            m=self._options.m,
            ef_construction=self._options.ef_construction,
            ef_search=self._options.ef_search,
        )

    # background work: building HNSW for a grown cache, and saving snapshots

    def _schedule_maintenance(self, cache_id: CacheId, slot: _Slot) -> None:
        if slot.busy or self._closed:
            return
        index = slot.index
        task: _Task
        if isinstance(index, ExactIndex) and len(index) > self._options.hnsw_threshold:
            task = self._build_in_background
        elif isinstance(index, HNSWIndex) and slot.unsaved >= self._save_after(index):
            task = self._save
        else:
            return
        slot.busy = True
        self._maintenance.submit(self._run, task, cache_id, slot)

    @staticmethod
    def _run(task: _Task, cache_id: CacheId, slot: _Slot) -> None:
        try:
            task(cache_id, slot)
        except Exception:
            logger.exception("vector index maintenance of cache %r failed", cache_id)
        finally:
            slot.busy = False

    def _build_in_background(self, cache_id: CacheId, slot: _Slot) -> None:
        with slot.lock:
            index = slot.index
            if not isinstance(index, ExactIndex):
                return
            labels, held = index.items()
            generation, seq = slot.generation, slot.seq
        graph = self._new_hnsw(index.dimension, len(labels))
        for start in range(0, len(labels), _BUILD_CHUNK):
            if self._closed:
                return
            chunk = slice(start, start + _BUILD_CHUNK)
            graph.add(labels[chunk], held[chunk], threads=_BACKGROUND_THREADS)

        def swap(connection: sqlite3.Connection) -> None:
            with slot.lock, _read_transaction(connection):
                stale = slot.generation != generation
                if stale or seq < vectors.pruned_through(connection):
                    return
                slot.install(graph, seq)
                self._catch_up(connection, slot, graph, cache_id)
                slot.unsaved = len(graph)
                slot.count(conversions=1)

        self._executor.read_sync(swap)

    def _save_after(self, index: HNSWIndex) -> int:
        # A save writes the whole graph (1.7 GB at a million vectors), so a large graph is
        # saved after a share of its size has changed; the log replays the rest on open.
        return max(self._options.snapshot_every, len(index) // _SAVE_SHARE)

    def _save(self, cache_id: CacheId, slot: _Slot) -> None:
        with slot.saving:
            with slot.lock:
                index = slot.index
                if not isinstance(index, HNSWIndex) or slot.unsaved == 0:
                    return
                generation, seq = slot.generation, slot.seq
                slot.frozen = True
            info = None
            try:
                # Without the lock: searches go on, seeing the graph plus the changes
                # made since through a `PendingView`, and catch up once it is saved.
                info = save_snapshot(self._directory, cache_id, index, seq)
            finally:
                with slot.lock:
                    slot.frozen = False
                    if info is not None and slot.generation == generation:
                        slot.unsaved = 0
                        slot.stats = replace(slot.stats, snapshot_seq=info.seq)
            if info is None:
                return
        saved_at = int(time.time() * 1000)
        options = self._options

        def record(connection: sqlite3.Connection) -> None:
            vectors.record_snapshot(connection, cache_id, info.seq, saved_at)
            vectors.prune_changes(connection, keep=options.log_retention, batch=50_000)

        self._executor.submit_write(record).result()

    def _refresh(self, cache_id: CacheId) -> None:
        slot = self._slots.get(cache_id)
        if slot is not None and slot.index is not None and not self._closed:
            self._bring_up_to_date(cache_id, slot)

    def _bring_up_to_date(self, cache_id: CacheId, slot: _Slot) -> None:
        """Load the cache's index, or catch it up with the log, on a reader thread."""

        def catch_up(connection: sqlite3.Connection) -> None:
            dimension = vectors.cache_dimension(connection, cache_id)
            if dimension is not None:
                with self.locked(connection, cache_id, dimension):
                    pass

        self._executor.read_sync(catch_up)
