"""Where HNSW's first, narrow pass may stop: on real MiniLM vectors, how often a query whose
first pass found a match at least as similar as a cutoff would have found a better one with
the full breadth.

    .venv/bin/python bench/hnsw_first_pass.py                  # the 100,000-entry store
    .venv/bin/python bench/hnsw_first_pass.py --size 1000000 --moved 2000

The graph is the prepared store's saved HNSW index (``_dataset.py``). Queries: Quora
questions of ``qqp_dev.jsonl`` (some stored, most not), and stored entries moved to cosines
0.80 to 0.93 from themselves in random directions (near duplicates, reworded prompts).
Each is searched at breadth 64 (the first pass) and at the full breadth (256); for each
cutoff the bench prints how many queries would stop after the first pass and how many of
those the full breadth would answer with a more similar match. (An equally similar one is
not counted: the model gives texts that differ only in case the same vector.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import _dataset as data
import numpy as np

from semcache.store.vector_index import DEFAULT_EF_SEARCH, HNSWIndex

FIRST_BREADTH = 64
CUTOFFS = (0.80, 0.85, 0.90, 0.95)
COSINES = (0.80, 0.85, 0.88, 0.90, 0.93)
_SAME = 1e-6
DEV = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "qqp_dev.jsonl"


def queries(prepared: data.Prepared, moved: int, dev: Path) -> dict[str, data.Matrix]:
    groups: dict[str, data.Matrix] = {}
    if dev.exists():
        pairs = [json.loads(line) for line in dev.read_text().splitlines() if line.strip()]
        texts = list(dict.fromkeys([p["a"] for p in pairs] + [p["b"] for p in pairs]))[:6000]
        groups["Quora dev questions"] = data.real_vectors(texts)
    stored = prepared.dataset.vectors()
    rng = np.random.default_rng(7)
    picked = stored[rng.choice(len(stored), moved, replace=False)]
    for cosine in COSINES:
        noise = rng.standard_normal(picked.shape).astype(np.float32)
        noise -= (noise * picked).sum(axis=1, keepdims=True) * picked
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        moved_rows = cosine * picked + np.sqrt(1 - cosine**2) * noise
        groups[f"stored entries moved to cosine {cosine:.2f}"] = moved_rows.astype(np.float32)
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="entries in the store")
    parser.add_argument("--moved", type=int, default=4000, help="moved entries per cosine")
    parser.add_argument("--dev", type=Path, default=DEV, help="labelled pairs (JSON lines)")
    args = parser.parse_args()
    prepared = data.prepare(args.size)
    [path] = (prepared.path / "index").glob("*.hnsw")
    graph = HNSWIndex.load(path, 384, live=prepared.size)
    stops = {cutoff: [0, 0] for cutoff in CUTOFFS}  # stopped, a better match missed
    times: dict[int, list[float]] = {FIRST_BREADTH: [], DEFAULT_EF_SEARCH: []}
    for name, vectors in queries(prepared, args.moved, args.dev).items():
        line = []
        for vector in vectors:
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


if __name__ == "__main__":
    main()
