"""Speed at scale: semcache over HTTP beside the model's own time and beside GPTCache.

    .venv/bin/python bench/speed.py --quick       # every section, small, under 2 minutes
    .venv/bin/python bench/speed.py               # the README figures (long; see below)
    .venv/bin/python bench/speed.py --only latency --sizes 100000 --rounds 5

Sections (``--only`` takes a comma-separated list):

- ``floor``: the model alone, in this process: one prompt per call, and batches of 64.
  One-prompt calls are timed both on one core, as the server runs the model, and spread
  over every core; the faster is the floor every ratio is taken against.
- ``latency``: one client, one request at a time: search hit, search miss and set, at each
  of ``--sizes`` entries, with the floor measured again in every round; for search hits
  also the server's mean time in each stage (embedding, store search, verification), read
  from its ``/metrics``, which shows where the time beyond the model goes.
- ``throughput``: 1, 8, 32 and 64 clients, each sending its next request when the last was
  answered, for semantic search, exact-only search and set, at ``--throughput-size``.
- ``startup``: from starting ``semcache serve`` over ``--startup-size`` entries until the
  first search is answered, and the server's resident memory (now and peak).
- ``gptcache``: the same prompts stored in, and then searched in, GPTCache's own server
  and semcache, one after the other in every round.

Every figure is the median over ``--rounds`` rounds. The load generator (this process) is
not the server process: it talks HTTP/1.1 over keep-alive connections (``_http.py``).
Stores of 10,000 entries and more are prepared once and copied per run (``_dataset.py``);
every search goes over HTTP to a real ``semcache serve``. The server runs with its prompt
cache off (``embedding_cache_size 0``), so every search runs the model, except in the
line that measures that cache, and its metrics public. ``uptime`` is printed before every
section: figures are only comparable when the machine is otherwise idle.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import _dataset as data
import _gptcache as peer
import httpx
import numpy as np
from _figures import percentile
from _http import Connection, Load, Reply, run_load
from _process import cpu_seconds

from semcache.embedding.onnx import DEFAULT_MODEL_DIR, ONNXEmbedder
from semcache.testing.server import ServerProcess, free_port

PAUSE_AFTER_SETS = 0.5
SERVER_ARGS = ["--setting", "embedding_cache_size", "0", "--setting", "metrics_public", "true"]
CLIENTS = (1, 8, 32, 64)


def uptime() -> str:
    load = os.getloadavg()
    return f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"


def section(title: str) -> None:
    data.log(f"\n== {title} ({uptime()})")


def med(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


class Results:
    """Named figures, each the list of its per-round values; printed as medians."""

    def __init__(self) -> None:
        self.figures: dict[str, list[float]] = {}
        self.notes: list[str] = []

    def add(self, name: str, value: float) -> None:
        self.figures.setdefault(name, []).append(value)

    def get(self, name: str) -> float:
        return med(self.figures.get(name, []))

    def ratio(self, label: str, top: str, bottom: str) -> None:
        if top in self.figures and bottom in self.figures:
            self.add(label, self.get(top) / self.get(bottom))

    def print(self) -> None:
        print(f"\n{'figure':58} {'median':>10}  per round")
        for name, values in self.figures.items():
            shown = " ".join(f"{v:.4g}" for v in values)
            print(f"{name:58} {med(values):>10.4g}  [{shown}]")
        for note in self.notes:
            print(note)


# the model alone


class Floor:
    """The shipped model in this process, one prompt per call, run two ways: on one core
    (as the server runs calls side by side) and spread over every core (as it runs a call
    when no other is running). The faster of the two is the floor."""

    def __init__(self, prompts: list[str]) -> None:
        self.prompts = prompts
        self.embedders = {
            "one core": ONNXEmbedder.from_directory(DEFAULT_MODEL_DIR, threads=1),
            "all cores": ONNXEmbedder.from_directory(DEFAULT_MODEL_DIR),
        }
        for embedder in self.embedders.values():
            embedder.encode(prompts[:64])

    def single_ms_each(self, count: int) -> dict[str, float]:
        """Per way of running, the p50 of one-prompt calls (the two take turns)."""
        millis: dict[str, list[float]] = {name: [] for name in self.embedders}
        for prompt in self.prompts[:count]:
            for name, embedder in self.embedders.items():
                started = time.perf_counter()
                embedder.encode([prompt])
                millis[name].append((time.perf_counter() - started) * 1000)
        return {name: med(values) for name, values in millis.items()}

    def single_ms(self, count: int) -> float:
        return min(self.single_ms_each(count).values())

    def batched_rate(self, rounds: int, size: int = 64) -> float:
        rates = []
        embedder = self.embedders["one core"]
        for start in range(rounds):
            batch = [self.prompts[(start * size + i) % len(self.prompts)] for i in range(size)]
            started = time.perf_counter()
            embedder.encode(batch)
            rates.append(size / (time.perf_counter() - started))
        return med(rates)

    def measure(self, results: Results, calls: int) -> None:
        each = self.single_ms_each(calls)
        for name, millis in each.items():
            results.add(f"model: one prompt per call, {name}, p50 ms", millis)
        results.add("model: one prompt per call, p50 ms", min(each.values()))
        results.add(
            "model: batches of 64 on one core, prompts/s", self.batched_rate(max(5, calls // 40))
        )


# semcache servers


class Semcache:
    """A semcache server over a working copy of a prepared store (or an empty one)."""

    serve_args: Sequence[str] = ()
    """Arguments of ``semcache serve`` for every server of the run (``--serve-args``)."""

    def __init__(
        self, workdir: Path, prepared: data.Prepared | None, extra: Sequence[str] = ()
    ) -> None:
        self.prepared = prepared
        directory = workdir / "semcache"
        if prepared is not None:
            prepared.working_copy(directory)
        elif directory.exists():
            shutil.rmtree(directory)
        self.server = ServerProcess(directory, args=[*SERVER_ARGS, *self.serve_args, *extra])
        self.cache_id = prepared.cache_id if prepared else ""
        self.api_key = prepared.api_key if prepared else ""

    def start(self, timeout: float = 600) -> Semcache:
        self.server.start(timeout)
        if self.prepared is None:
            admin = {"Authorization": f"Bearer {self.server.admin_key}"}
            created = httpx.post(f"{self.server.url}/admin/v1/caches", json={}, headers=admin)
            self.cache_id = created.json()["id"]
            key = httpx.post(
                f"{self.server.url}/admin/v1/caches/{self.cache_id}/keys", headers=admin
            )
            self.api_key = key.json()["apiKey"]
        return self

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    @property
    def base(self) -> str:
        return f"/v1/caches/{self.cache_id}/entries"

    def encoder(self) -> Connection:
        return Connection(self.server.url, self.headers)

    def search(self, prompt: str, **fields: object) -> bytes:
        return self.encoder().encode("POST", f"{self.base}/search", {"prompt": prompt, **fields})

    def set(self, prompt: str) -> bytes:
        return self.encoder().encode("POST", self.base, {"prompt": prompt, "response": "r"})

    def metrics(self) -> str:
        """The server's /metrics page."""
        return httpx.get(f"{self.server.url}/metrics").text

    def stage_seconds(self) -> dict[str, tuple[float, float]]:
        """Seconds and count of each search stage so far, from the server's /metrics."""
        text = self.metrics()
        totals: dict[str, list[float]] = {}
        for match in _STAGE_LINE.finditer(text):
            field, stage, value = match.groups()
            totals.setdefault(stage, [0.0, 0.0])[field == "count"] += float(value)
        return {stage: (seconds, count) for stage, (seconds, count) in totals.items()}

    def counters(self) -> dict[str, float]:
        """The CPU seconds of the server and its workers so far, and the prompts and calls
        of its model (from /metrics)."""
        found = {name: float(value) for name, value in _BATCH_LINE.findall(self.metrics())}
        return {
            "cpu seconds": cpu_seconds(self.server),
            "prompts embedded": found.get("sum", 0.0),
            "model calls": found.get("count", 0.0),
        }

    def memory(self) -> tuple[float, float]:
        """Resident and peak resident memory of the server process, in MB."""
        status = Path(f"/proc/{self.server.process.pid}/status").read_text()  # type: ignore[union-attr]
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024

    def stop(self) -> None:
        self.server.stop(timeout=300)


_BATCH_LINE = re.compile(r"^semcache_embedding_batch_size_(sum|count) (\S+)$", re.M)


_STAGE_LINE = re.compile(
    r'^semcache_search_stage_duration_seconds_(sum|count)\{stage="(\w+)"\} (\S+)$', re.M
)


def stage_means(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]
) -> dict[str, float]:
    """Mean seconds of each stage between two readings of `Semcache.stage_seconds`."""
    means = {}
    for stage, (seconds, count) in after.items():
        earlier = before.get(stage, (0.0, 0.0))
        if count > earlier[1]:
            means[stage] = (seconds - earlier[0]) / (count - earlier[1])
    return means


def is_hit(reply: Reply) -> bool:
    return reply.status == 200 and b'"data":[]' not in reply.body


def expect(hit: bool | None) -> Callable[[Reply], None]:
    def check(reply: Reply) -> None:
        if reply.status >= 400:
            raise AssertionError(f"HTTP {reply.status}: {reply.body[:200]!r}")
        if hit is not None and is_hit(reply) != hit:
            raise AssertionError(f"expected hit={hit}: {reply.body[:200]!r}")

    return check


async def one_client(url: str, headers: dict[str, str], requests: list[bytes]) -> list[Reply]:
    async with Connection(url, headers) as connection:
        return [await connection.send(request) for request in requests]


async def timed(
    url: str, headers: dict[str, str], requests: list[bytes]
) -> list[tuple[float, Reply]]:
    out = []
    async with Connection(url, headers) as connection:
        for request in requests:
            started = time.perf_counter()
            reply = await connection.send(request)
            out.append(((time.perf_counter() - started) * 1000, reply))
    return out


# sections


def latency(args: argparse.Namespace, results: Results, floor: Floor) -> None:
    for size in args.sizes:
        prepared = data.prepare(size)
        section(f"latency, one client, {size:,} entries")
        server = Semcache(args.workdir, prepared).start()
        try:
            latency_rounds(args, results, floor, server, prepared.dataset)
            if size == max(args.sizes):
                rss, peak = server.memory()
                results.add(f"{size:,} entries: server RSS after the run, MB", rss)
                results.add(f"{size:,} entries: server peak RSS, MB", peak)
        finally:
            server.stop()


def latency_rounds(
    args: argparse.Namespace,
    results: Results,
    floor: Floor,
    server: Semcache,
    dataset: data.Dataset,
) -> None:
    size = dataset.size
    stored = dataset.texts()
    misses = data.miss_prompts(args.searches * args.rounds)
    url, headers = server.server.url, server.headers
    # Reworded hits: 999 prompts are stored, then their paraphrases searched.
    pairs = data.paraphrases()
    origins = [server.set(origin) for origin, _ in pairs]
    asyncio.run(run_load(url, headers, origins, clients=16, total=len(origins)))
    reworded = [similar for _, similar in pairs]
    warm = [server.search(q) for q in stored[-50:]]
    asyncio.run(one_client(url, headers, warm))
    tag = f"{size:,} entries"
    for round_ in range(args.rounds):
        picks = stored[round_ :: max(1, len(stored) // args.searches)][: args.searches]
        batch = misses[round_ * args.searches : (round_ + 1) * args.searches]
        fresh = [f"{q} (new entry {round_})" for q in picks[: args.searches // 2]]
        other = reworded[round_ :: args.rounds][: args.searches]
        measured = {
            "search hit": (picks, server.search, lambda r: is_hit(r)),
            "search hit, reworded": (other, server.search, lambda r: is_hit(r)),
            "search miss": (batch, server.search, lambda r: r.status == 200 and not is_hit(r)),
            "set": (fresh, server.set, lambda r: r.status == 201),
        }
        model = floor.single_ms(args.searches // 2)
        results.add("model: one prompt per call, p50 ms", model)
        for name, (prompts, encode, good) in measured.items():
            if not prompts:
                continue
            staged = name == "search hit"  # the stages of one kind of search suffice
            before = server.stage_seconds() if staged else {}
            timings = asyncio.run(timed(url, headers, [encode(q) for q in prompts]))
            if staged:
                for stage, mean in stage_means(before, server.stage_seconds()).items():
                    results.add(f"{tag}: search hit, {stage} stage mean ms", mean * 1000)
            millis = [ms for ms, reply in timings if good(reply)]
            bad = [reply for _, reply in timings if not good(reply)]
            if bad and name == "search hit, reworded":
                results.add(
                    f"{tag}: reworded searches that hit, share", 1 - len(bad) / len(timings)
                )
            elif bad:
                results.notes.append(
                    f"{tag}: {len(bad)} of {len(timings)} '{name}' were not: "
                    f"{bad[0].status} {bad[0].body[:160]!r}"
                )
            results.add(f"{tag}: {name} p50 ms", med(millis))
            results.add(f"{tag}: {name} p99 ms", percentile(millis, 99))
            if name == "search hit":
                results.add(f"{tag}: search hit p50 / model p50", med(millis) / model)
        # The index takes the round's sets in while writes pause, not in the next search.
        time.sleep(PAUSE_AFTER_SETS)
        [(millis, _)] = asyncio.run(timed(url, headers, [server.search(picks[0])]))
        results.add(f"{tag}: a search {PAUSE_AFTER_SETS:g} s after the round's sets, ms", millis)


def prompt_cache_line(args: argparse.Namespace, results: Results) -> None:
    """The same prompt searched again and again with the prompt cache on: no model call."""
    section("prompt cache: repeated prompts")
    prepared = data.prepare(min(args.sizes))
    server = Semcache(args.workdir, prepared, ["--setting", "embedding_cache_size", "4096"])
    server.start()
    try:
        stored = data.questions()[:20]
        url, headers = server.server.url, server.headers
        requests = [server.search(q) for q in stored] * (args.searches // 20 + 1)
        asyncio.run(one_client(url, headers, requests[:40]))
        for _ in range(args.rounds):
            millis = [ms for ms, _ in asyncio.run(timed(url, headers, requests))]
            results.add(f"{prepared.size:,} entries: repeated-prompt search p50 ms", med(millis))
    finally:
        server.stop()


def throughput(args: argparse.Namespace, results: Results) -> None:
    size = args.throughput_size
    prepared = data.prepare(size)
    section(f"throughput, {size:,} entries")
    server = Semcache(args.workdir, prepared).start()
    stored = prepared.dataset.texts()
    picks = stored[:: max(1, len(stored) // 4000)][:4000]
    semantic = [server.search(q) for q in picks]
    exact = [server.search(q, searchStrategies=["exact"]) for q in picks]
    url, headers = server.server.url, server.headers
    try:
        for round_ in range(args.rounds):
            for clients in CLIENTS:
                for name, requests, check in (
                    ("semantic search", semantic, expect(True)),
                    ("exact-only search", exact, expect(True)),
                ):
                    load = asyncio.run(
                        run_load(
                            url,
                            headers,
                            requests,
                            clients=clients,
                            seconds=args.seconds,
                            check=check,
                            warmup=2,
                            counters=server.counters,
                        )
                    )
                    record_load(results, f"{name}, {clients} clients", load)
                fresh = [
                    server.set(f"{q} (set {round_}-{clients}-{i})") for i, q in enumerate(picks * 3)
                ]
                load = asyncio.run(
                    run_load(
                        url,
                        headers,
                        fresh,
                        clients=clients,
                        seconds=args.seconds,
                        check=expect(None),
                        counters=server.counters,
                    )
                )
                record_load(results, f"durable set, {clients} clients", load)
    finally:
        server.stop()


def record_load(results: Results, name: str, load: Load) -> None:
    results.add(f"{name}: requests/s", load.rate)
    results.add(f"{name}: p50 ms", med(load.latencies))
    if load.counted and load.latencies:
        cpu_ms = load.counted["cpu seconds"] * 1000 / len(load.latencies)
        results.add(f"{name}: server CPU ms per request", cpu_ms)
    if load.counted.get("model calls"):
        batch = load.counted["prompts embedded"] / load.counted["model calls"]
        results.add(f"{name}: prompts per model call", batch)
    if load.errors:
        results.notes.append(f"{name}: {load.errors} failed requests")


def startup(args: argparse.Namespace, results: Results) -> None:
    size = args.startup_size
    prepared = data.prepare(size, args.real)
    section(f"start to ready, {size:,} entries")
    server = Semcache(args.workdir, prepared)
    probe = server.search(data.questions()[1])
    tag = f"{size:,} entries"
    for _ in range(args.rounds):
        started = time.perf_counter()
        server.start()
        healthy = time.perf_counter() - started
        asyncio.run(one_client(server.server.url, server.headers, [probe]))
        ready = time.perf_counter() - started
        searches = [server.search(q) for q in data.questions()[: args.searches]]
        timings = asyncio.run(timed(server.server.url, server.headers, searches))
        rss, peak = server.memory()
        server.stop()
        results.add(f"{tag}: start to /healthz, s", healthy)
        results.add(f"{tag}: start to first search answered, s", ready)
        results.add(f"{tag}: search hit p50 after start, ms", med([ms for ms, _ in timings]))
        results.add(f"{tag}: server RSS, MB", rss)
        results.add(f"{tag}: server peak RSS, MB", peak)
    log = server.server.log()
    if "rebuilding" in log or "building" in log.lower():
        results.notes.append(f"{tag}: the server log mentions a rebuild")
    restart_after_writes(args, results, server, tag, probe)


def restart_after_writes(
    args: argparse.Namespace, results: Results, server: Semcache, tag: str, probe: bytes
) -> None:
    """Sets, then a clean stop (which saves the index) and a start; then sets, kill -9 and
    a start that must replay the sets from the change log."""
    writes = args.searches * 2
    url = server.server.url
    for how in ("stop", "kill -9"):
        server.start()
        fresh = [server.set(f"{q} (restart {how})") for q in data.questions()[:writes]]
        asyncio.run(run_load(url, server.headers, fresh, clients=16, total=len(fresh)))
        started = time.perf_counter()
        if how == "stop":
            server.stop()
            results.add(
                f"{tag}: clean stop after {writes:,} sets, s", time.perf_counter() - started
            )
        else:
            server.server.kill()
        started = time.perf_counter()
        server.start()
        asyncio.run(one_client(url, server.headers, [probe]))
        ready = time.perf_counter() - started
        results.add(f"{tag}: start to first search after {writes:,} sets and {how}, s", ready)
        server.stop()


FILTERS = {"tenant": "0.1%", "group": "1%", "lang": "20%"}


def filtered(args: argparse.Namespace, results: Results) -> None:
    """Recall@1 and latency of searches filtered by attributes matching 0.1%, 1% and 20%
    of the entries, against the true nearest entry carrying the attribute."""
    size = args.filtered_size
    prepared = data.prepare(size, args.real)
    dataset = prepared.dataset
    section(f"filtered search, {size:,} entries (ground truth first)")
    numbers = np.arange(size)
    keys = {
        "lang": numbers % 5,
        "group": (numbers // 5) % 100,
        "tenant": (numbers * 7919) % 1000,
    }
    everything = dataset.vectors()
    texts = dataset.texts()
    queries = list(range(0, len(texts), max(1, len(texts) // 50)))[:50]
    server = Semcache(args.workdir, prepared).start()
    try:
        for name, share in FILTERS.items():
            found, millis = 0, []
            for query in queries:
                own = data.attributes_of(query)[name]
                value = next(v for v in np.unique(keys[name])[:3] if _label(name, v) != own)
                carrying = np.flatnonzero(keys[name] == value)
                best = int(carrying[np.argmax(everything[carrying] @ everything[query])])
                body = {
                    "prompt": texts[query],
                    "attributes": {name: _label(name, value)},
                    "similarityThreshold": 0.0,
                }
                request = server.encoder().encode("POST", f"{server.base}/search", body)
                [(ms, reply)] = asyncio.run(timed(server.server.url, server.headers, [request]))
                millis.append(ms)
                answer = json.loads(reply.body)["data"]
                found += bool(answer) and answer[0]["prompt"] == dataset.prompt(best)
            tag = f"{size:,} entries, filter matching {share}"
            results.add(f"{tag}: recall@1", found / len(queries))
            results.add(f"{tag}: search p50 ms", med(millis))
    finally:
        server.stop()


def _label(name: str, value: int) -> str:
    return {"lang": lambda v: data.LANGS[v], "group": "g{}".format, "tenant": "t{}".format}[name](
        int(value)
    )


def gptcache(args: argparse.Namespace, results: Results) -> None:
    if not peer.ready():
        if args.quick:
            results.notes.append("gptcache: skipped (run the full bench once to install it)")
            return
        peer.ensure_venv()
    size = args.gptcache_size
    section(f"GPTCache beside semcache, {size:,} entries")
    prompts = data.questions()[:size]
    theirs = peer.GPTCacheServer(args.workdir / "gptcache", free_port(), max_size=10 * size)
    ours = Semcache(args.workdir, None)
    with theirs:
        ours.start()
        try:
            compare(args, results, prompts, ours, theirs)
        finally:
            ours.stop()


def compare(
    args: argparse.Namespace,
    results: Results,
    prompts: list[str],
    ours: Semcache,
    theirs: peer.GPTCacheServer,
) -> None:
    put = Connection(theirs.url)
    their_sets = [put.encode("POST", "/put", {"prompt": p, "answer": "r"}) for p in prompts]
    their_gets = [put.encode("POST", "/get", {"prompt": p}) for p in prompts]
    our_sets = [ours.set(p) for p in prompts]
    our_gets = [ours.search(p) for p in prompts]
    url, headers = ours.server.url, ours.headers
    load = asyncio.run(run_load(url, headers, our_sets, clients=32, total=len(prompts)))
    results.add("gptcache workload: semcache load, sets/s (32 clients)", load.rate)
    load = asyncio.run(run_load(theirs.url, {}, their_sets, clients=32, total=len(prompts)))
    results.add("gptcache workload: GPTCache load, puts/s (32 clients)", load.rate)
    their_hit = expect_gptcache_hit
    count = min(len(prompts), args.searches)
    for round_ in range(args.rounds):
        picks = slice(round_, round_ + count * args.rounds, args.rounds)
        for who, target, hdrs, requests, check in (
            ("semcache", url, headers, our_gets[picks], expect(True)),
            ("GPTCache", theirs.url, {}, their_gets[picks], their_hit),
        ):
            timings = asyncio.run(timed(target, hdrs, requests))
            millis = [ms for ms, _ in timings]
            for _, reply in timings:
                try:
                    check(reply)
                except AssertionError as exc:
                    results.notes.append(f"{who}: {exc}")
                    break
            results.add(f"gptcache workload: {who} search hit p50 ms, one client", med(millis))
            results.add(
                f"gptcache workload: {who} search hit p99 ms, one client", percentile(millis, 99)
            )
            load = asyncio.run(
                run_load(target, hdrs, requests, clients=32, seconds=args.seconds, check=check)
            )
            results.add(f"gptcache workload: {who} searches/s, 32 clients", load.rate)
    results.ratio(
        "gptcache workload: semcache / GPTCache searches/s (≥ 10)",
        "gptcache workload: semcache searches/s, 32 clients",
        "gptcache workload: GPTCache searches/s, 32 clients",
    )
    results.ratio(
        "gptcache workload: semcache / GPTCache search p50 (≤ 0.2)",
        "gptcache workload: semcache search hit p50 ms, one client",
        "gptcache workload: GPTCache search hit p50 ms, one client",
    )
    results.ratio(
        "gptcache workload: semcache / GPTCache sets/s",
        "gptcache workload: semcache load, sets/s (32 clients)",
        "gptcache workload: GPTCache load, puts/s (32 clients)",
    )


def expect_gptcache_hit(reply: Reply) -> None:
    if reply.status != 200 or json.loads(reply.body).get("answer") is None:
        raise AssertionError(f"GPTCache missed: {reply.status} {reply.body[:200]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, short runs")
    parser.add_argument("--only", default="floor,latency,throughput,filtered,startup,gptcache")
    parser.add_argument("--sizes", default=None, help="entries for latency, e.g. 10000,100000")
    parser.add_argument("--throughput-size", type=int, default=None)
    parser.add_argument("--startup-size", type=int, default=None)
    parser.add_argument("--filtered-size", type=int, default=None)
    parser.add_argument("--gptcache-size", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--searches", type=int, default=None, help="per round and size")
    parser.add_argument("--seconds", type=float, default=None, help="per throughput point")
    parser.add_argument("--workdir", type=Path, default=data.BENCH_DIR / "run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--serve-args", default="", help='for every server, e.g. "--workers 2 --setting threads 1"'
    )
    args = parser.parse_args()
    defaults(args)
    Semcache.serve_args = shlex.split(args.serve_args)
    sections = set(args.only.split(","))
    results = Results()
    data.log(f"bench starts ({uptime()}), {os.cpu_count()} cores")
    floor = Floor(data.questions()[:2000])
    if "floor" in sections:
        section("the model alone")
        for _ in range(args.rounds):
            floor.measure(results, args.searches)
    if "latency" in sections:
        latency(args, results, floor)
        prompt_cache_line(args, results)
    if "throughput" in sections:
        throughput(args, results)
    if "filtered" in sections:
        filtered(args, results)
    if "startup" in sections:
        startup(args, results)
    if "gptcache" in sections:
        gptcache(args, results)
    data.log(f"bench ends ({uptime()})")
    results.print()
    if args.json:
        args.json.write_text(json.dumps(results.figures, indent=1))


def defaults(args: argparse.Namespace) -> None:
    quick = args.quick
    if args.sizes is None:
        args.sizes = [2_000] if quick else [10_000, 100_000, 1_000_000]
    else:
        args.sizes = [int(size) for size in args.sizes.split(",")]
    args.throughput_size = args.throughput_size or (2_000 if quick else 100_000)
    args.startup_size = args.startup_size or (25_000 if quick else 1_000_000)
    args.filtered_size = args.filtered_size or (25_000 if quick else 1_000_000)
    args.real = 2_000 if quick else 0
    args.gptcache_size = args.gptcache_size or (200 if quick else 10_000)
    args.rounds = args.rounds or (1 if quick else 3)
    args.searches = args.searches or (100 if quick else 1000)
    args.seconds = args.seconds or (1.5 if quick else 5.0)


if __name__ == "__main__":
    sys.exit(main())
