"""Where HNSW's first, narrow pass may stop: on real MiniLM vectors, how often a query whose
first pass found a match at least as similar as a cutoff would have found a better one with
the full breadth.

    .venv/bin/python bench/hnsw_first_pass.py                  # the 100,000-entry store
    .venv/bin/python bench/hnsw_first_pass.py --size 10000
    .venv/bin/python bench/hnsw_first_pass.py --size 1000000 --moved 2000

The graph is the prepared store's saved HNSW index (``_dataset.py``), or one built here as
the store builds it if the prepared store has none, over the store's own vectors as its
SQLite database holds them. Queries: Quora questions of ``qqp_dev.jsonl`` (some stored,
most not), and stored entries moved to cosines 0.80 to 0.93 from themselves in random
directions (near duplicates, reworded prompts). Each query is searched at breadth 64 (the
first pass) and at the full breadth (256); for each cutoff the bench prints how many
queries would stop after the first pass and how many of those the full breadth would
answer with a more similar match (an equally similar one is not counted: the model gives
texts that differ only in case the same vector). Last, the recall@1 of the index's own
two-pass query against exact search over every entry.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import _dataset as data
import numpy as np
import numpy.typing as npt

from semcache.store import _sqlite_vectors as vectors_of
from semcache.store.vector_index import DEFAULT_EF_SEARCH, HNSWIndex

FIRST_BREADTH = 64
CUTOFFS = (0.80, 0.85, 0.90, 0.95)
COSINES = (0.80, 0.85, 0.88, 0.90, 0.93)
_SAME = 1e-6
DEV_QUESTIONS = 6000


def queries(stored: data.Matrix, moved: int, dev: Path) -> dict[str, data.Matrix]:
    groups = {"Quora dev questions": data.real_vectors(data.load_prompts(dev, DEV_QUESTIONS))}
    rng = np.random.default_rng(7)
    picked = stored[rng.choice(len(stored), moved, replace=False)]
    for cosine in COSINES:
        noise = rng.standard_normal(picked.shape).astype(np.float32)
        noise -= (noise * picked).sum(axis=1, keepdims=True) * picked
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        moved_rows = cosine * picked + np.sqrt(1 - cosine**2) * noise
        groups[f"stored entries moved to cosine {cosine:.2f}"] = moved_rows.astype(np.float32)
    return groups


def store_vectors(prepared: data.Prepared) -> tuple[npt.NDArray[np.int64], data.Matrix]:
    """The labels and vectors the prepared store holds, as its index has them."""
    connection = data.open_connection(prepared.path)
    try:
        dimension = vectors_of.cache_dimension(connection, prepared.cache_id) or 0
        chunks = list(vectors_of.iter_vectors(connection, prepared.cache_id, dimension))
    finally:
        connection.close()
    labels = np.concatenate([chunk_labels for chunk_labels, _ in chunks])
    matrix: data.Matrix = np.concatenate([chunk for _, chunk in chunks])
    return labels.astype(np.int64), matrix


def best_similarity(queries: data.Matrix, stored: data.Matrix) -> data.Matrix:
    """Each query's similarity to its nearest stored vector, exactly (in slices, so that a
    million entries fit in memory)."""
    best: data.Matrix = np.concatenate(
        [
            (queries[start : start + 256] @ stored.T).max(axis=1)
            for start in range(0, len(queries), 256)
        ]
    )
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="entries in the store")
    parser.add_argument("--moved", type=int, default=4000, help="moved entries per cosine")
    parser.add_argument(
        "--dev", type=Path, default=data.QQP_DEV, help="labelled pairs (JSON lines)"
    )
    args = parser.parse_args()
    prepared = data.prepare(args.size)
    labels, stored = store_vectors(prepared)
    saved = list((prepared.path / "index").glob("*.hnsw"))
    if saved:
        graph = HNSWIndex.load(saved[0], stored.shape[1], live=len(labels))
    else:
        graph = HNSWIndex(stored.shape[1], capacity=len(labels))
        graph.add(labels, stored)
    recalled = searched = 0
    stops = {cutoff: [0, 0] for cutoff in CUTOFFS}  # stopped, a better match missed
    times: dict[int, list[float]] = {FIRST_BREADTH: [], DEFAULT_EF_SEARCH: []}
    for name, vectors in queries(stored, args.moved, args.dev).items():
        line = []
        best_exact = best_similarity(vectors, stored)
        for vector, truth in zip(vectors, best_exact, strict=True):
            searched += 1
            recalled += int(graph.query(vector, 1)[1][0] >= truth - _SAME)
            found = {}
            for breadth in times:
                started = time.perf_counter()
                found[breadth] = graph._search(vector, 1, breadth)
                times[breadth].append(time.perf_counter() - started)
            [best], [full_best] = found[FIRST_BREADTH][1], found[DEFAULT_EF_SEARCH][1]
            for cutoff in CUTOFFS:
                if best >= cutoff:
                    stops[cutoff][0] += 1
                    stops[cutoff][1] += int(full_best > best + _SAME)
        for cutoff in CUTOFFS:
            line.append(f"{cutoff:.2f}: {stops[cutoff][0]} stop, {stops[cutoff][1]} better")
        print(f"{name} ({len(vectors)}), so far: " + "; ".join(line))
    for breadth, seconds in times.items():
        print(f"breadth {breadth}: p50 {statistics.median(seconds) * 1000:.3f} ms a query")
    print("cutoff  stopped after the first pass  of which the full breadth finds a better match")
    for cutoff, (stopped, other) in stops.items():
        print(f"{cutoff:.2f}    {stopped:>28,}  {other:>6,}")
    print(f"recall@1 of the two-pass query against exact search: {recalled / searched:.4f}")


if __name__ == "__main__":
    main()
