"""The SQLite store's large-cache behaviour: index preloading, and filtered recall."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from semcache.store._index_pending import PendingView
from semcache.store.registry import open_store
from semcache.store.sqlite import SQLiteStore
from semcache.store.vector_index import ExactIndex, HNSWIndex
from tests.store._sqlite_helpers import NOW, fill, make_entry, new_store, top_id, unit_vectors

pytestmark = pytest.mark.anyio


async def _saved_hnsw_store(directory: Path, count: int = 300) -> None:
    store = await new_store(directory, hnsw_threshold=0)
    await fill(store, unit_vectors(count))
    await top_id(store, unit_vectors(1, seed=5)[0])
    await store.close()


async def test_an_open_store_loads_saved_indexes_before_any_search(tmp_path: Path) -> None:
    await _saved_hnsw_store(tmp_path)
    store = await SQLiteStore.open(tmp_path, hnsw_threshold=0)
    try:
        for _ in range(200):
            if store.index_stats("c") is not None:
                break
            await asyncio.sleep(0.01)
        stats = store.index_stats("c")
        assert stats is not None and (stats.from_snapshot, stats.full_loads) == (300, 0)
    finally:
        await store.close()


async def test_a_store_closed_at_once_never_loads_its_indexes(tmp_path: Path) -> None:
    """A command that opens the store for a moment must not read a large index."""
    await _saved_hnsw_store(tmp_path)
    store = await SQLiteStore.open(tmp_path, hnsw_threshold=0)
    await store.close()
    assert store.index_stats("c") is None


async def test_a_store_opened_for_a_command_loads_indexes_only_when_used(tmp_path: Path) -> None:
    await _saved_hnsw_store(tmp_path)
    store = await open_store(f"sqlite:///{tmp_path}", preload=False)
    assert isinstance(store, SQLiteStore)
    try:
        await store.list_caches()
        await asyncio.sleep(0.05)
        assert store.index_stats("c") is None
        assert await top_id(store, unit_vectors(300)[7]) == "e7"
    finally:
        await store.close()


@pytest.mark.parametrize(
    "options",
    [{}, {"filter_exact_limit": 0}],
    ids=["cheapest path", "hnsw oversampled"],
)
async def test_selective_filters_keep_their_recall(tmp_path: Path, options: dict[str, Any]) -> None:
    """10,000 random vectors (a hard case for HNSW); filters matching 0.1%, 1% and 10%."""
    count, dimension = 10_000, 24
    vectors = unit_vectors(count, dimension, seed=1)
    attributes = [
        {"tenant": f"t{(n * 7919) % 1000}", "group": f"g{n % 100}", "lang": f"l{n % 10}"}
        for n in range(count)
    ]
    store = await new_store(tmp_path, hnsw_threshold=0, **options)
    try:
        puts = [
            store.put(make_entry(n, vectors[n], attributes=attributes[n])) for n in range(count)
        ]
        for start in range(0, count, 1000):
            await asyncio.gather(*puts[start : start + 1000])
        queries = unit_vectors(60, dimension, seed=2)
        for name in ("tenant", "group", "lang"):
            values = np.array([held[name] for held in attributes])
            found = 0
            for number, query in enumerate(queries):
                value = attributes[number * 157][name]
                carrying = np.flatnonzero(values == value)
                best = carrying[int(np.argmax(vectors[carrying] @ query))]
                matches = await store.search("c", query, attributes={name: value}, now=NOW, limit=1)
                found += bool(matches) and matches[0].entry.id == f"e{best}"
            assert found >= 0.98 * len(queries), (name, found)
    finally:
        await store.close()


async def test_searches_during_a_save_see_every_write_and_leave_the_graph_alone(
    tmp_path: Path,
) -> None:
    vectors = unit_vectors(200)
    store = await new_store(tmp_path, hnsw_threshold=0)
    try:
        await fill(store, vectors[:150])
        assert await top_id(store, vectors[3]) == "e3"
        slot = store._indexes._slot("c")
        graph = slot.index
        size = len(graph)  # type: ignore[arg-type]
        slot.frozen = True  # as while a save is writing the graph
        await fill(store, vectors[150:], first=150)
        await store.delete("c", "e3", now=NOW)
        await store.put(make_entry(7, vectors[160]))  # e7 moves to a new row and vector
        assert await top_id(store, vectors[170]) == "e170"
        assert await top_id(store, vectors[3]) != "e3"
        assert await top_id(store, vectors[160]) in ("e7", "e160")
        assert await top_id(store, vectors[7]) != "e7"
        assert slot.index is graph and len(graph) == size  # type: ignore[arg-type]
        slot.frozen = False
        assert await top_id(store, vectors[170]) == "e170"
        stats = store.index_stats("c")
        assert stats is not None and stats.size == 199
    finally:
        await store.close()


async def test_a_save_while_writes_go_on_reopens_to_the_same_entries(tmp_path: Path) -> None:
    vectors = unit_vectors(400)
    store = await new_store(tmp_path, hnsw_threshold=0, snapshot_every=100)
    try:
        for start in range(0, 400, 50):
            await fill(store, vectors[start : start + 50], first=start)
            await store.delete("c", f"e{start}", now=NOW)
            assert await top_id(store, vectors[start + 1]) == f"e{start + 1}"
    finally:
        await store.close()
    store = await SQLiteStore.open(tmp_path, hnsw_threshold=0)
    try:
        assert await top_id(store, vectors[399]) == "e399"
        assert await top_id(store, vectors[50]) != "e50"
        stats = store.index_stats("c")
        assert stats is not None and stats.size == 392 and stats.full_loads == 0
    finally:
        await store.close()


def test_a_pending_view_merges_the_graph_with_the_changes_since() -> None:
    vectors = unit_vectors(6)
    graph = ExactIndex(vectors.shape[1])
    graph.add(np.arange(4, dtype=np.int64), vectors[:4])
    added = (np.array([4, 5], dtype=np.int64), vectors[4:])
    view = PendingView(graph, vectors.shape[1], added, removed={1})
    assert sorted(view.query(vectors[1], 6)[0]) == [0, 2, 3, 4, 5]
    assert view.query(vectors[5], 1)[0][0] == 5
    assert view.query(vectors[2], 1)[0][0] == 2
    assert len(view) == 6
    with pytest.raises(RuntimeError):
        view.add(added[0], added[1])
    empty = PendingView(None, vectors.shape[1], added, removed=set())
    assert set(empty.query(vectors[0], 5)[0]) == {4, 5}


def test_hnsw_answers_a_close_match_at_once_and_searches_wider_otherwise() -> None:
    """A sparse graph over random 96-d vectors is a hard case: near-duplicates at cosine
    0.85 need the full breadth, which the first, narrow pass alone does not give."""
    vectors = unit_vectors(6000, 96, seed=4)
    graph = HNSWIndex(96, capacity=6000, ef_construction=16, m=4)
    graph.add(np.arange(6000, dtype=np.int64), vectors, threads=1)  # the same graph every run
    noise = unit_vectors(300, 96, seed=5)
    noise -= (noise * vectors[:300]).sum(axis=1, keepdims=True) * vectors[:300]
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    near = (0.85 * vectors[:300] + np.sqrt(1 - 0.85**2) * noise).astype(np.float32)

    def recall(queries: np.ndarray, breadth: int) -> float:
        graph.ef_search = breadth
        truth = (vectors @ queries.T).argmax(axis=0)
        found = [graph.query(query, 10)[0][0] for query in queries]
        return float(np.mean(np.array(found) == truth))

    assert recall(near, 256) >= 0.95
    assert recall(near, 256) >= recall(near, 64) + 0.05
    assert recall(vectors[:300], 256) >= 0.95


def test_hnsw_searches_wider_only_when_the_first_pass_finds_nothing_close() -> None:
    vectors = unit_vectors(3000, 64, seed=6)
    graph = HNSWIndex(64, capacity=3000)
    graph.add(np.arange(3000, dtype=np.int64), vectors, threads=1)
    breadths: list[int] = []
    narrow_then_full = graph._search

    def traced(vector: np.ndarray, k: int, ef: int) -> Any:
        breadths.append(ef)
        return narrow_then_full(vector, k, ef)

    graph._search = traced  # type: ignore[method-assign]
    noise = unit_vectors(1, 64, seed=7)[0]
    noise -= (noise @ vectors[0]) * vectors[0]
    reworded = 0.87 * vectors[0] + np.sqrt(1 - 0.87**2) * noise / np.linalg.norm(noise)
    [label], [similarity] = graph.query(reworded.astype(np.float32), 1)
    assert (label, breadths) == (0, [64]) and similarity == pytest.approx(0.87, abs=1e-3)
    breadths.clear()
    graph.query(unit_vectors(1, 64, seed=8)[0], 1)  # nothing close: random vectors
    assert breadths == [64, 256]
