"""Search latency over HTTP with the verifier and without it, in the same run.

    .venv/bin/python bench/verifier_latency.py                  # 5,000 entries, 1,000 searches
    .venv/bin/python bench/verifier_latency.py --entries 2000 --searches 300

Starts one real server (plain HTTP, embedded store) in a temporary directory with two caches
that differ only in the verifier: the shipped one, and ``"verifier": "off"``. Both get the
same entries: the questions of ../shared/data/qqp_dev.jsonl. A single client then searches
the other question of each pair, alternating between the caches so that both see the same
machine, and the script reports p50 and p90 of each and the ratio of the medians, for all
searches and for hits and misses apart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _dataset import QQP_DEV
from _figures import percentile
from search_latency import store_all
from tqdm import tqdm

from semcache.embedding.verifier import DEFAULT_VERIFIER, VerifierRegistry
from semcache.testing.server import ServerProcess


def load_pairs(path: Path, entries: int) -> list[tuple[str, str]]:
    """(stored, searched) pairs: the first ``entries`` pairs of a labelled-pairs file."""
    pairs = []
    with path.open() as lines:
        for line in lines:
            row = json.loads(line)
            if row["a"].strip() and row["b"].strip() and row["a"] != row["b"]:
                pairs.append((row["a"].strip()[:1024], row["b"].strip()[:1024]))
            if len(pairs) >= entries:
                break
    return pairs


def new_cache(server: ServerProcess, **spec: object) -> tuple[str, dict[str, str]]:
    admin = {"Authorization": f"Bearer {server.admin_key}"}
    created = httpx.post(f"{server.url}/admin/v1/caches", json=spec, headers=admin)
    created.raise_for_status()
    cache_id = created.json()["id"]
    key = httpx.post(f"{server.url}/admin/v1/caches/{cache_id}/keys", headers=admin).json()
    return f"/v1/caches/{cache_id}/entries", {"Authorization": f"Bearer {key['apiKey']}"}


def time_searches(
    client: httpx.Client, caches: dict[str, tuple[str, dict[str, str]]], queries: list[str]
) -> dict[str, list[tuple[float, bool]]]:
    """Per cache, (milliseconds, hit) for each query; the caches take turns on each query."""
    timings: dict[str, list[tuple[float, bool]]] = {name: [] for name in caches}
    for i, query in enumerate(tqdm(queries, desc="searching", unit="query", file=sys.stderr)):
        order = list(caches) if i % 2 == 0 else list(reversed(caches))
        for name in order:
            path, headers = caches[name]
            started = time.perf_counter()
            response = client.post(f"{path}/search", json={"prompt": query}, headers=headers)
            millis = (time.perf_counter() - started) * 1000
            response.raise_for_status()
            timings[name].append((millis, bool(response.json()["data"])))
    return timings


def report(timings: dict[str, list[tuple[float, bool]]]) -> None:
    medians = {}
    print(f"{'':28}{'searches':>9}{'hits':>7}{'p50 ms':>9}{'p90 ms':>9}")
    for name, rows in timings.items():
        for label, chosen in (
            ("all", rows),
            ("hits", [r for r in rows if r[1]]),
            ("misses", [r for r in rows if not r[1]]),
        ):
            millis = [m for m, _ in chosen]
            if not millis:
                continue
            p50 = statistics.median(millis)
            medians[(name, label)] = p50
            hits = sum(1 for _, hit in chosen if hit)
            print(
                f"{name + ', ' + label:28}{len(millis):>9}{hits:>7}{p50:>9.2f}"
                f"{percentile(millis, 90):>9.2f}"
            )
    for label in ("all", "hits", "misses"):
        if ("verifier", label) in medians and ("cosine only", label) in medians:
            ratio = medians[("verifier", label)] / medians[("cosine only", label)]
            print(f"p50 with the verifier / without, {label:6} {ratio:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=5_000)
    parser.add_argument("--searches", type=int, default=1_000)
    parser.add_argument("--data", type=Path, default=QQP_DEV)
    parser.add_argument("--verifier", default=DEFAULT_VERIFIER)
    args = parser.parse_args()
    if not VerifierRegistry().is_known(args.verifier):
        sys.exit(f"no verifier {args.verifier!r}: make it with scripts/train_verifier.py")
    pairs = load_pairs(args.data, args.entries)
    queries = [searched for _, searched in pairs[: args.searches]]

    with (
        tempfile.TemporaryDirectory() as directory,
        ServerProcess(Path(directory) / "data") as server,
    ):
        caches = {
            "verifier": new_cache(server, name="verified", verifier=args.verifier),
            "cosine only": new_cache(server, name="cosine", verifier="off"),
        }

        async def load() -> None:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                for path, headers in caches.values():
                    client.headers.update(headers)
                    await store_all(client, path, [stored for stored, _ in pairs])

        asyncio.run(load())
        with httpx.Client(base_url=server.url, timeout=30) as client:
            time_searches(client, caches, queries[:30])  # warm up
            timings = time_searches(client, caches, queries)
    report(timings)


if __name__ == "__main__":
    main()
