"""Search in the store alone (no HTTP, no model): the embedded store beside PostgreSQL.

    .venv/bin/python bench/store_search.py                   # 10,000 entries, 384 dimensions
    .venv/bin/python bench/store_search.py --entries 100000 --queries 500

Fills both stores with the same random unit vectors, each entry carrying ``group`` (100
values, 1% each) and ``lang`` (5 values, 20% each), waits for the stores' indexes, then
times one search at a time: near-duplicate queries (cosine about 0.9 to one entry) without a
filter, and random queries with each filter. Reports p50 and recall@1 against exact search
for each store, measured in the same run (PostgreSQL from ``pgserver`` in a temporary
directory unless ``--postgres`` names an empty database).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from semcache.store.base import CacheConfig, Entry, Store
from semcache.store.postgres import PostgresStore
from semcache.store.sqlite import SQLiteStore

Matrix = npt.NDArray[np.float32]


def unit(rows: Matrix) -> Matrix:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


async def fill(store: Store, vectors: Matrix, groups: npt.NDArray[np.int64]) -> float:
    await store.create_cache(CacheConfig(id="bench", name="bench", embedder="x", created_at=0))
    started = time.perf_counter()
    for start in range(0, len(vectors), 500):
        await asyncio.gather(
            *(
                store.put(
                    Entry(
                        "bench",
                        f"e{n}",
                        f"prompt {n}",
                        "response",
                        {"group": str(groups[n] % 100), "lang": str(groups[n] % 5)},
                        n,
                        vector=vectors[n],
                    )
                )
                for n in range(start, min(start + 500, len(vectors)))
            )
        )
    return len(vectors) / (time.perf_counter() - started)


async def timed(
    store: Store, queries: Matrix, truths: list[str], attributes: list[dict[str, str]]
) -> tuple[float, float]:
    """p50 in milliseconds and recall@1 of one search at a time."""
    millis, hits = [], 0
    for query, truth, wanted in zip(queries, truths, attributes, strict=True):
        started = time.perf_counter()
        found = await store.search("bench", query, attributes=wanted, now=1, limit=1)
        millis.append((time.perf_counter() - started) * 1000)
        hits += bool(found) and found[0].entry.id == truth
    return statistics.median(millis), hits / len(queries)


def workloads(
    vectors: Matrix, groups: npt.NDArray[np.int64], count: int, rng: np.random.Generator
) -> dict[str, tuple[Matrix, list[str], list[dict[str, str]]]]:
    targets = rng.integers(0, len(vectors), count)
    noise = unit(rng.standard_normal((count, vectors.shape[1])).astype(np.float32))
    near = unit(vectors[targets] + 0.48 * noise)
    loads = {"near-duplicate, no filter": (near, [f"e{t}" for t in targets], [{}] * count)}
    for name, values, label in [("group", 100, "filter 1%"), ("lang", 5, "filter 20%")]:
        queries = unit(rng.standard_normal((count, vectors.shape[1])).astype(np.float32))
        wanted, truths = [], []
        for number, query in enumerate(queries):
            value = number % values
            members = np.flatnonzero(groups % values == value)
            truths.append(f"e{members[np.argmax(vectors[members] @ query)]}")
            wanted.append({name: str(value)})
        loads[label] = (queries, truths, wanted)
    return loads


async def measure(
    name: str, opener: Callable[[], Awaitable[Store]], vectors: Matrix, args: argparse.Namespace
) -> None:
    rng = np.random.default_rng(2)
    groups = rng.integers(0, 1_000_000, len(vectors))
    store = await opener()
    try:
        rate = await fill(store, vectors, groups)
        if isinstance(store, PostgresStore):
            await store.wait_for_indexes()
            async with store.pool.connection() as connection:
                await connection.execute("ANALYZE semcache_entries")
        await store.search("bench", vectors[0], attributes={}, now=1, limit=1)
        print(f"{name}: {rate:.0f} puts/s from 500 at once; load average {os.getloadavg()[0]:.1f}")
        for label, (queries, truths, wanted) in workloads(
            vectors, groups, args.queries, rng
        ).items():
            p50, recall = await timed(store, queries, truths, wanted)
            print(f"  {label:28} p50 {p50:6.2f} ms   recall@1 {recall:.3f}")
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--postgres", help="an empty PostgreSQL database instead of pgserver")
    args = parser.parse_args()
    vectors = unit(np.random.default_rng(1).standard_normal((args.entries, args.dimension)))
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(
            measure("embedded", lambda: SQLiteStore.open(Path(directory) / "s"), vectors, args)
        )
        url = args.postgres
        postgres = None
        if url is None:
            from semcache.testing.postgres import LocalPostgres

            postgres = LocalPostgres.start(Path(directory) / "pg")
            url = postgres.create_database("bench_store")
        try:
            asyncio.run(
                measure(
                    "postgresql", lambda: PostgresStore.open(url, pool_timeout=60), vectors, args
                )
            )
        finally:
            if postgres is not None:
                postgres.stop()


if __name__ == "__main__":
    main()
