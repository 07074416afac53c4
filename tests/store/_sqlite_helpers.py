"""Small builders shared by the SQLite store tests."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from semcache.store.base import CacheConfig, Entry, Store
from semcache.store.sqlite import SQLiteStore

NOW = 1_700_000_000_000
DIMENSION = 16
Vectors = npt.NDArray[np.float32]


def unit_vectors(count: int, dimension: int = DIMENSION, seed: int = 0) -> Vectors:
    vectors = np.random.default_rng(seed).standard_normal((count, dimension))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def make_entry(number: int, vector: Vectors, **fields: Any) -> Entry:
    defaults: dict[str, Any] = {
        "cache_id": "c",
        "id": f"e{number}",
        "prompt": f"prompt {number}",
        "response": f"response {number}",
        "attributes": {},
        "created_at": number,
    }
    return Entry(**{**defaults, **fields}, vector=vector)


async def new_store(directory: Path, **options: Any) -> SQLiteStore:
    store = await SQLiteStore.open(directory, **options)
    await store.create_cache(CacheConfig(id="c", name="c", embedder="fake", created_at=0))
    return store


async def fill(store: Store, vectors: Vectors, first: int = 0, **fields: Any) -> None:
    puts = [
        store.put(make_entry(first + number, vector, **fields))
        for number, vector in enumerate(vectors)
    ]
    for start in range(0, len(puts), 500):
        await asyncio.gather(*puts[start : start + 500])


async def top_id(store: Store, vector: Vectors) -> str | None:
    found = await store.search("c", vector, attributes={}, now=NOW, limit=1)
    return found[0].entry.id if found else None
