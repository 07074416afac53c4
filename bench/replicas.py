"""Search throughput of one and of two replicas over one PostgreSQL database, beside the
embedded store, measured in the same run.

    .venv/bin/python bench/replicas.py                        # 10,000 entries, 16 clients
    .venv/bin/python bench/replicas.py --entries 2000 --runs 5 --seconds 15 --clients 32
    .venv/bin/python bench/replicas.py --postgres postgresql://…/db   # instead of pgserver

Each configuration starts real ``semcache serve`` processes (plain HTTP): the embedded store
alone, then one and two servers over one PostgreSQL database (a PostgreSQL with pgvector
from ``pgserver`` in a temporary directory, a new database per configuration, unless
``--postgres`` names one). Each stores the entries through the API. Then come ``--runs``
timed rounds; in each, every configuration in turn gets ``--seconds`` of ``--clients``
asyncio clients (httpx, in this process, outside the servers) sending semantic searches
that should hit: a stored question with a new suffix, so that no search is answered from
the embedder's prompt cache. Client i talks to replica i mod n. Reports the median over
runs of searches/s, latency percentiles, the hit ratio, and the ratios between
configurations.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from _dataset import QQP_DEV, load_prompts
from _figures import percentile

from semcache.testing.server import ServerProcess

SUFFIXES = ["Thanks!", "Please answer briefly.", "I am curious.", "Any idea?"]


@dataclass(frozen=True, slots=True)
class Config:
    name: str
    replicas: int
    store: str | None  # None: the embedded store in the server's data directory


@dataclass(frozen=True, slots=True)
class Run:
    rate: float
    latencies: list[float]
    hits: int
    searches: int


@contextmanager
def started(config: Config, directory: Path, threads: int) -> Iterator[list[ServerProcess]]:
    """The configuration's servers, started at the same moment, stopped on exit."""
    args = ["--setting", "threads", str(threads)]
    if config.store:
        args += ["--store", config.store]
    servers = [
        ServerProcess(directory / f"{config.name}-{n}", args=args) for n in range(config.replicas)
    ]
    try:
        with ThreadPoolExecutor(len(servers)) as starting:
            list(starting.map(lambda server: server.start(), servers))
        yield servers
    finally:
        for server in servers:
            server.stop()


def new_cache(servers: list[ServerProcess], admin_key: str | None) -> tuple[str, str, str]:
    """A new cache and key through the admin API: (cache ID, API key, admin key)."""
    founders = [s for s in servers if (s.data_dir / "admin.key").exists()]
    admin_key = founders[0].admin_key if founders else admin_key
    if admin_key is None:
        raise SystemExit("no admin key: give --postgres an empty database")
    admin = {"Authorization": f"Bearer {admin_key}"}
    url = servers[0].url
    cache = httpx.post(f"{url}/admin/v1/caches", json={"name": "bench"}, headers=admin)
    cache.raise_for_status()
    cache_id = cache.json()["id"]
    key = httpx.post(f"{url}/admin/v1/caches/{cache_id}/keys", headers=admin)
    key.raise_for_status()
    return cache_id, key.json()["apiKey"], admin_key


async def store_all(server: ServerProcess, cache_id: str, key: str, prompts: list[str]) -> float:
    """Store every prompt through the API with 16 clients; returns entries per second."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for prompt in prompts:
        queue.put_nowait(prompt)
    headers = {"Authorization": f"Bearer {key}"}
    started_at = time.perf_counter()
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as client:

        async def worker() -> None:
            while not queue.empty():
                prompt = queue.get_nowait()
                response = await client.post(
                    f"/v1/caches/{cache_id}/entries", json={"prompt": prompt, "response": "r"}
                )
                response.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(16)))
    return len(prompts) / (time.perf_counter() - started_at)


async def search_load(
    servers: list[ServerProcess],
    cache_id: str,
    key: str,
    prompts: list[str],
    *,
    clients: int,
    seconds: float,
    tag: str,
) -> Run:
    """``clients`` clients searching for ``seconds``; each sticks to one server."""
    latencies: list[float] = []
    hits = 0
    headers = {"Authorization": f"Bearer {key}"}
    path = f"/v1/caches/{cache_id}/entries/search"
    limits = httpx.Limits(max_connections=1)

    async def client(number: int) -> None:
        nonlocal hits
        server = servers[number % len(servers)]
        async with httpx.AsyncClient(
            base_url=server.url, headers=headers, timeout=60, limits=limits
        ) as http:
            serial = number
            while time.perf_counter() < deadline:
                prompt = prompts[serial % len(prompts)]
                suffix = SUFFIXES[serial % len(SUFFIXES)]
                body = {"prompt": f"{prompt} {suffix} ({tag}.{serial})"}
                serial += clients
                sent = time.perf_counter()
                response = await http.post(path, json=body)
                latencies.append((time.perf_counter() - sent) * 1000)
                response.raise_for_status()
                hits += bool(response.json()["data"])

    started_at = time.perf_counter()
    deadline = started_at + seconds
    await asyncio.gather(*(client(number) for number in range(clients)))
    elapsed = time.perf_counter() - started_at
    return Run(len(latencies) / elapsed, latencies, hits, len(latencies))


@dataclass
class Result:
    """A configuration's running servers, its cache, and its runs so far."""

    config: Config
    threads: int
    servers: list[ServerProcess]
    cache_id: str
    key: str
    load_rate: float
    runs: list[Run]

    @property
    def rate(self) -> float:
        return statistics.median(run.rate for run in self.runs)

    @property
    def latencies(self) -> list[float]:
        return [latency for run in self.runs for latency in run.latencies]

    @property
    def hit_ratio(self) -> float:
        return sum(run.hits for run in self.runs) / max(1, sum(run.searches for run in self.runs))

    def search(self, args: argparse.Namespace, prompts: list[str], seconds: float, tag: str) -> Run:
        return asyncio.run(
            search_load(
                self.servers,
                self.cache_id,
                self.key,
                prompts,
                clients=args.clients,
                seconds=seconds,
                tag=tag,
            )
        )


@contextmanager
def prepared(
    config: Config, args: argparse.Namespace, prompts: list[str], admin_keys: list[str]
) -> Iterator[Result]:
    """The configuration's servers started, with a new cache holding every prompt."""
    threads = args.threads or max(1, (os.cpu_count() or 1) // config.replicas)
    with (
        tempfile.TemporaryDirectory() as directory,
        started(config, Path(directory), threads) as servers,
    ):
        cache_id, key, admin_key = new_cache(servers, admin_keys[0] if admin_keys else None)
        admin_keys[:] = [admin_key]
        load_rate = asyncio.run(store_all(servers[0], cache_id, key, prompts))
        result = Result(config, threads, servers, cache_id, key, load_rate, [])
        result.search(args, prompts, 3.0, "warm-up")
        yield result


def report(results: list[Result], args: argparse.Namespace, load: tuple[float, float]) -> None:
    print(
        f"{args.entries} entries, {args.clients} clients, {args.runs} runs of {args.seconds:.0f} s"
        f" (median shown); load average before {load[0]:.2f}, after {load[1]:.2f}"
    )
    print(
        f"{'configuration':16} {'threads':>7} {'stores/s':>9} {'searches/s':>11}"
        f" {'p50 ms':>7} {'p99 ms':>7} {'hits':>6}  runs/s"
    )
    for result in results:
        runs = ", ".join(f"{run.rate:.1f}" for run in result.runs)
        print(
            f"{result.config.name:16} {result.threads:>7} {result.load_rate:>9.0f}"
            f" {result.rate:>11.1f} {statistics.median(result.latencies):>7.1f}"
            f" {percentile(result.latencies, 99):>7.1f} {result.hit_ratio:>6.1%}  {runs}"
        )
    rates = {result.config.name: result.rate for result in results}
    if {"postgres-1", "postgres-2", "embedded"} <= rates.keys():
        two_over_one = rates["postgres-2"] / rates["postgres-1"]
        postgres_over_embedded = rates["postgres-1"] / rates["embedded"]
        print(f"two replicas / one replica (PostgreSQL)   {two_over_one:.2f}")
        print(f"one replica: PostgreSQL / embedded store   {postgres_over_embedded:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--threads", type=int, help="model threads per server (default: cores / replicas)"
    )
    parser.add_argument("--data", type=Path, default=QQP_DEV)
    parser.add_argument(
        "--postgres", help="an empty PostgreSQL database to use instead of pgserver"
    )
    args = parser.parse_args()
    prompts = load_prompts(args.data, args.entries)
    before = os.getloadavg()[0]
    with ExitStack() as stack:
        if args.postgres:
            urls = [args.postgres, args.postgres]
        else:
            from semcache.testing.postgres import LocalPostgres

            directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            postgres = LocalPostgres.start(directory / "postgres")
            stack.callback(postgres.stop)
            urls = [postgres.create_database(f"bench_replicas_{n}") for n in (1, 2)]
        configs = [
            Config("embedded", 1, None),
            Config("postgres-1", 1, urls[0]),
            Config("postgres-2", 2, urls[1]),
        ]
        admin_keys: list[str] = []
        results = [
            stack.enter_context(prepared(config, args, prompts, admin_keys if config.store else []))
            for config in configs
        ]
        # Runs alternate between configurations, so a change in the machine's load
        # falls on all of them alike.
        for number in range(args.runs):
            for result in results:
                result.runs.append(result.search(args, prompts, args.seconds, str(number)))
                rate = result.runs[-1].rate
                print(f"  run {number + 1}, {result.config.name}: {rate:.1f}/s", file=sys.stderr)
        after = os.getloadavg()[0]
    report(results, args, (before, after))


if __name__ == "__main__":
    main()
