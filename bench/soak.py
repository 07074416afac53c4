"""Soak: mixed load at about 80% of the measured maximum throughput, for ten minutes.

    .venv/bin/python bench/soak.py                  # 10 minutes
    .venv/bin/python bench/soak.py --minutes 2 --entries 1000

Starts a real server (plain HTTP, embedded store, default settings) in a temporary
directory and stores ``--entries`` prompts. Then it measures the most requests a second the
server completes with ``--connections`` clients kept busy, and offers ``--load`` (0.8) of
that rate for ``--minutes``, at fixed intervals whatever the answers (latency counts from
the moment a request was due, so a stalled server cannot hide its backlog). The mix: 55%
semantic searches (half of them hits), 10% exact searches, 25% stores that overwrite a
fixed pool of prompts, 5% deletes by ID and 5% deletes by attribute, so the cache neither
grows nor drains. Every minute it prints requests due and answered, errors, p50/p99, the
server's RSS and its CPU time per answered request; at the end, the first minute against
the last, and the maximum measured again, which tells a server that slowed down with age
from a machine that was busy with other work for a while. Exits with status 1 on any
error.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _dataset import QQP_DEV, load_prompts
from _figures import percentile
from _process import cpu_seconds, rss

from semcache.core.cache import entry_id_for
from semcache.testing.server import ServerProcess

SAMPLE_SECONDS = 5
"""How often the server's RSS and CPU time are read."""


class Connection:
    """One keep-alive HTTP/1.1 connection with a bare client, to keep the load generator's
    own CPU use small on a machine it shares with the server."""

    def __init__(self, port: int, key: str) -> None:
        self.port = port
        self.head = f"Host: localhost\r\nAuthorization: Bearer {key}\r\n"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: object = None) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        payload = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\n{self.head}Content-Length: {len(payload)}\r\n\r\n"
        self.writer.write(head.encode() + payload)
        status = int((await self.reader.readline()).split(b" ", 2)[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status


@dataclass
class Workload:
    """The prompts and the mix of operations."""

    cache_path: str
    pool: list[str]
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    novel: int = 0

    def next(self) -> tuple[str, str, object, set[int]]:
        """(method, path, body, statuses that count as success)."""
        roll, prompt = self.rng.random(), self.rng.choice(self.pool)
        group = {"group": f"g{self.rng.randrange(50)}"}
        if roll < 0.275:
            return "POST", "/entries/search", {"prompt": prompt}, {200}
        body: dict[str, object]
        if roll < 0.55:
            self.novel += 1
            body = {"prompt": f"{prompt} (asked differently, take {self.novel})"}
            return "POST", "/entries/search", body, {200}
        if roll < 0.65:
            body = {"prompt": prompt, "searchStrategies": ["exact"]}
            return "POST", "/entries/search", body, {200}
        if roll < 0.90:
            answer = f"answer {self.rng.random()}"
            return (
                "POST",
                "/entries",
                {"prompt": prompt, "response": answer, "attributes": group},
                {201},
            )
        if roll < 0.95:
            return "DELETE", f"/entries/{entry_id_for(prompt, group)}", None, {204, 404}
        return "DELETE", "/entries", {"attributes": group}, {200}


@dataclass
class Minute:
    latencies: list[float] = field(default_factory=list)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    rss: list[int] = field(default_factory=list)
    answered: int = 0
    cpu_seconds: list[float] = field(default_factory=list)


async def fill(port: int, key: str, workload: Workload) -> None:
    queue = list(workload.pool)

    async def writer() -> None:
        connection = Connection(port, key)
        while queue:
            prompt = queue.pop()
            body = {"prompt": prompt, "response": "first answer"}
            await connection.request("POST", f"{workload.cache_path}/entries", body)

    await asyncio.gather(*(writer() for _ in range(16)))


async def measure_max(
    port: int, key: str, workload: Workload, connections: int, seconds: float
) -> float:
    """Requests a second completed with ``connections`` clients that never wait."""
    done = 0
    deadline = time.monotonic() + seconds

    async def client() -> None:
        nonlocal done
        connection = Connection(port, key)
        while time.monotonic() < deadline:
            method, path, body, _ = workload.next()
            await connection.request(method, workload.cache_path + path, body)
            done += 1

    await asyncio.gather(*(client() for _ in range(connections)))
    return done / seconds


async def soak(
    server: ServerProcess,
    key: str,
    workload: Workload,
    rate: float,
    minutes: float,
    connections: int,
) -> list[Minute]:
    """Offer ``rate`` requests a second for ``minutes``; the figures of each minute."""
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(Connection(server.port, key))
    started = time.monotonic()
    total = int(rate * minutes * 60)
    stats = [Minute() for _ in range(int(minutes + 0.999))]
    tasks: set[asyncio.Task[None]] = set()

    def current(now: float) -> Minute:
        return stats[min(int((now - started) / 60), len(stats) - 1)]

    async def one(due: float) -> None:
        method, path, body, ok = workload.next()
        connection = await idle.get()
        minute = current(due)
        try:
            status = await connection.request(method, workload.cache_path + path, body)
            if status not in ok:
                minute.errors[str(status)] += 1
        except (OSError, asyncio.IncompleteReadError) as exc:
            minute.errors[type(exc).__name__] += 1
            connection = Connection(server.port, key)
        minute.latencies.append(time.monotonic() - due)
        current(time.monotonic()).answered += 1
        idle.put_nowait(connection)

    async def sample_server() -> None:
        while True:
            minute = current(time.monotonic())
            minute.rss.append(rss(server))
            minute.cpu_seconds.append(cpu_seconds(server))
            await asyncio.sleep(SAMPLE_SECONDS)

    reported = 0

    async def reporter() -> None:
        nonlocal reported
        for number in range(len(stats)):
            await asyncio.sleep(max(0.0, started + 60 * (number + 1) + 3 - time.monotonic()))
            report(number, stats[number])
            reported += 1

    background = [asyncio.create_task(sample_server()), asyncio.create_task(reporter())]
    for n in range(total):
        due = started + n / rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        task = asyncio.create_task(one(due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    for task in background:
        task.cancel()
    for number in range(reported, len(stats)):
        report(number, stats[number])
    return stats


def report(number: int, minute: Minute) -> None:
    mb = statistics.mean(minute.rss) / 2**20 if minute.rss else 0
    # Server CPU per answered request, over the samples of the minute: if it grows while
    # the mix stays the same, some cost grows with the server's age.
    cpu = minute.cpu_seconds
    spent = (cpu[-1] - cpu[0]) / ((len(cpu) - 1) * SAMPLE_SECONDS) * 60 if len(cpu) > 1 else 0.0
    per_request = spent / minute.answered * 1000 if minute.answered else 0.0
    print(
        f"minute {number + 1}: {len(minute.latencies)} requests due, {minute.answered} answered, "
        f"{sum(minute.errors.values())} errors, "
        f"p50 {percentile(minute.latencies, 50) * 1000:.1f} ms, "
        f"p99 {percentile(minute.latencies, 99) * 1000:.1f} ms, RSS {mb:.0f} MB, "
        f"server CPU {per_request:.2f} ms/request, load {os.getloadavg()[0]:.1f}",
        flush=True,
    )


async def main(args: argparse.Namespace) -> int:
    directory = tempfile.mkdtemp(prefix="semcache-soak-")
    with ServerProcess(Path(directory) / "data", args=shlex.split(args.serve_args)) as server:
        values = server.quickstart
        key = values["API_KEY"]
        workload = Workload(f"/v1/caches/{values['CACHE_ID']}", load_prompts(QQP_DEV, args.entries))
        await fill(server.port, key, workload)
        print(f"stored {args.entries} entries; RSS {rss(server) / 2**20:.0f} MB", flush=True)
        await measure_max(server.port, key, workload, args.connections, 5)  # warm up
        top = await measure_max(server.port, key, workload, args.connections, args.measure)
        rate = top * args.load
        print(
            f"maximum {top:.0f} requests/s with {args.connections} connections; "
            f"offering {rate:.0f}/s for {args.minutes} minutes",
            flush=True,
        )
        stats = await soak(server, key, workload, rate, args.minutes, args.connections)
        # A server that aged would answer fewer requests now than at the start; a machine
        # that was busy with other work during the soak would not.
        after = await measure_max(server.port, key, workload, args.connections, args.measure)
        print(f"maximum after the soak {after:.0f} requests/s (before: {top:.0f})", flush=True)
    shutil.rmtree(directory)
    errors: collections.Counter[str] = collections.Counter()
    for minute in stats:
        errors += minute.errors
    first, last = stats[0], stats[-1]
    print(
        f"errors: {sum(errors.values())} {dict(errors)}; p99 first minute "
        f"{percentile(first.latencies, 99) * 1000:.1f} ms, last minute "
        f"{percentile(last.latencies, 99) * 1000:.1f} ms; RSS first minute "
        f"{statistics.mean(first.rss) / 2**20:.0f} MB, last minute "
        f"{statistics.mean(last.rss) / 2**20:.0f} MB"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10, help="length of the soak")
    parser.add_argument("--entries", type=int, default=5000, help="prompts stored and reused")
    parser.add_argument("--load", type=float, default=0.8, help="share of the maximum offered")
    parser.add_argument("--connections", type=int, default=32, help="client connections")
    parser.add_argument("--measure", type=float, default=20, help="seconds measuring the maximum")
    parser.add_argument("--serve-args", default="", help="extra arguments of semcache serve")
    sys.exit(asyncio.run(main(parser.parse_args())))
