"""Search-hit latency over HTTP with N stored entries, beside the model's own time.

    .venv/bin/python bench/search_latency.py                 # 10,000 entries, 1,000 searches
    .venv/bin/python bench/search_latency.py --entries 2000 --searches 200
    .venv/bin/python bench/search_latency.py --store postgresql://…   # an empty database

Starts a real server (plain HTTP, embedded store) in a temporary directory, stores the
entries through the API, then searches stored prompts one at a time (a single client) with
the semantic strategy and checks that each is a hit. The server's prompt cache is off, so
every search runs the model (a stored prompt would otherwise be answered from the vectors
its store left in that cache). In the same run it times the model alone on the same
prompts, and reports p50/p99 and the ratio of the two medians.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _dataset import QQP_DEV, load_prompts
from _figures import percentile
from tqdm import tqdm

from semcache.embedding.onnx import DEFAULT_MODEL_DIR, ONNXEmbedder
from semcache.testing.server import ServerProcess


async def store_all(client: httpx.AsyncClient, path: str, prompts: list[str]) -> None:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for prompt in prompts:
        queue.put_nowait(prompt)
    progress = tqdm(total=len(prompts), desc="storing", unit="entry", file=sys.stderr)

    async def worker() -> None:
        while not queue.empty():
            prompt = queue.get_nowait()
            response = await client.post(path, json={"prompt": prompt, "response": prompt[::-1]})
            response.raise_for_status()
            progress.update()

    await asyncio.gather(*(worker() for _ in range(16)))
    progress.close()


def time_searches(client: httpx.Client, path: str, prompts: list[str]) -> list[float]:
    millis = []
    for prompt in tqdm(prompts, desc="searching", unit="search", file=sys.stderr):
        started = time.perf_counter()
        response = client.post(path, json={"prompt": prompt})
        millis.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        if not response.json()["data"]:
            raise AssertionError(f"expected a hit for {prompt!r}")
    return millis


def time_model(prompts: list[str]) -> list[float]:
    embedder = ONNXEmbedder.from_directory(DEFAULT_MODEL_DIR)
    embedder.encode(prompts[:8])
    millis = []
    for prompt in prompts:
        started = time.perf_counter()
        embedder.encode([prompt])
        millis.append((time.perf_counter() - started) * 1000)
    return millis


MODEL_EVERY_TIME = ["--setting", "embedding_cache_size", "0"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--searches", type=int, default=1_000)
    parser.add_argument("--data", type=Path, default=QQP_DEV)
    parser.add_argument(
        "--store",
        help="store URL for the server, e.g. an empty PostgreSQL database"
        " (default: the embedded store in a temporary directory)",
    )
    args = parser.parse_args()
    prompts = load_prompts(args.data, args.entries)
    queries = prompts[:: max(1, len(prompts) // args.searches)][: args.searches]

    with (
        tempfile.TemporaryDirectory() as directory,
        ServerProcess(
            Path(directory) / "data",
            args=[*MODEL_EVERY_TIME, *(["--store", args.store] if args.store else [])],
        ) as server,
    ):
        admin = {"Authorization": f"Bearer {server.admin_key}"}
        cache_id = httpx.post(f"{server.url}/admin/v1/caches", json={}, headers=admin).json()["id"]
        key = httpx.post(f"{server.url}/admin/v1/caches/{cache_id}/keys", headers=admin).json()
        headers = {"Authorization": f"Bearer {key['apiKey']}"}
        base = f"/v1/caches/{cache_id}/entries"
        started = time.perf_counter()

        async def load() -> None:
            async with httpx.AsyncClient(
                base_url=server.url, headers=headers, timeout=30
            ) as client:
                await store_all(client, base, prompts)

        asyncio.run(load())
        load_seconds = time.perf_counter() - started
        with httpx.Client(base_url=server.url, headers=headers) as client:
            time_searches(client, f"{base}/search", queries[:20])
            searches = time_searches(client, f"{base}/search", queries)
    model = time_model(queries)

    p50, p99 = statistics.median(searches), percentile(searches, 99)
    model_p50 = statistics.median(model)
    rate = len(prompts) / load_seconds
    print(f"entries stored           {len(prompts):>8}   ({rate:.0f}/s, 16 clients)")
    print(f"search hit p50 (ms)      {p50:>8.2f}")
    print(f"search hit p99 (ms)      {p99:>8.2f}")
    print(f"model alone p50 (ms)     {model_p50:>8.2f}")
    print(f"search p50 / model p50   {p50 / model_p50:>8.2f}")


if __name__ == "__main__":
    main()
