"""The SQLite store's large-cache behaviour: index preloading, and filtered recall."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from semcache.store.sqlite import SQLiteStore
from tests.store._sqlite_helpers import NOW, fill, new_store, top_id, unit_vectors

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
        puts = [store.put(_entry(n, vectors[n], attributes[n])) for n in range(count)]
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


def _entry(number: int, vector: np.ndarray, attributes: dict[str, str]) -> Any:
    from tests.store._sqlite_helpers import make_entry

    return make_entry(number, vector, attributes=attributes)
