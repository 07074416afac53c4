"""What metrics cost per request: two servers, metrics on and off, timed in the same run.

    .venv/bin/python bench/metrics_overhead.py                  # 3,000 requests per case
    .venv/bin/python bench/metrics_overhead.py --requests 500   # quicker

Starts two real servers (plain HTTP, embedded store, one worker each) that differ only in
the ``metrics`` setting, and stores the same entries in both. Then, for each kind of
request, it sends one request to each server in turn (which server goes first alternates),
one at a time over a keep-alive connection, so that both see the same machine load. It
reports the medians, their difference and ratio, and the load average. In the same run it
also times the observers alone in this process (the Prometheus metrics and the statistics
recorder), which is the whole of the work metrics add to a request.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson
from _process import cpu_seconds

from semcache.api.metrics import Metrics
from semcache.core.models import Strategy
from semcache.core.observer import SearchTrace, Stage
from semcache.core.recorder import StatsRecorder
from semcache.testing.server import ServerProcess

ENTRIES = [f"How do I configure feature number {n} of the product?" for n in range(200)]


class Client:
    """One keep-alive HTTP/1.1 connection with blocking reads: a few microseconds of Python
    per request, so the client adds little noise to the server's time."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile("rb")
        self.head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())

    def encode(self, method: str, path: str, body: object = None) -> bytes:
        payload = b"" if body is None else orjson.dumps(body)
        head = f"{method} {path} HTTP/1.1\r\nHost: x\r\n{self.head}"
        return f"{head}Content-Length: {len(payload)}\r\n\r\n".encode() + payload

    def send(self, request: bytes) -> tuple[int, bytes]:
        self.sock.sendall(request)
        status = int(self.file.readline().split(b" ", 2)[1])
        length = 0
        while (line := self.file.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return status, self.file.read(length)

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def _client(server: ServerProcess) -> tuple[Client, str]:
    values = server.quickstart
    client = Client(server.port, {"Authorization": f"Bearer {values['API_KEY']}"})
    return client, f"/v1/caches/{values['CACHE_ID']}"


def _fill(server: ServerProcess) -> None:
    client, prefix = _client(server)
    for prompt in ENTRIES:
        status, _ = client.send(
            client.encode("POST", f"{prefix}/entries", {"prompt": prompt, "response": "ok"})
        )
        assert status == 201, status
    client.close()


def _cases(prefix: str) -> dict[str, tuple[str, str, Callable[[int], object]]]:
    return {
        "exact hit": (
            "POST",
            f"{prefix}/entries/search",
            lambda i: {"prompt": ENTRIES[i % 200], "searchStrategies": ["exact"]},
        ),
        "semantic hit": (
            "POST",
            f"{prefix}/entries/search",
            lambda i: {"prompt": ENTRIES[i % 200]},
        ),
        "semantic miss": (
            "POST",
            f"{prefix}/entries/search",
            lambda i: {"prompt": f"Something unrelated, question {i % 200}"},
        ),
    }


def _interleaved(on: ServerProcess, off: ServerProcess, requests: int) -> None:
    (a, prefix_a), (b, prefix_b) = _client(on), _client(off)
    cases_a, cases_b = _cases(prefix_a), _cases(prefix_b)
    print(
        f"{'request':14} {'on p50':>9} {'off p50':>9} {'ratio':>6} {'paired diff p50':>16}"
        f" {'on CPU':>9} {'off CPU':>9} {'ratio':>6}"
    )
    for name in cases_a:
        method, path_a, body = cases_a[name]
        _, path_b, _ = cases_b[name]
        on_times, off_times = [], []
        cpu = {"on": 0.0, "off": 0.0}
        for i in range(requests + 50):
            if i == 50:  # the first rounds warm caches and connections
                cpu = {"on": -cpu_seconds(on), "off": -cpu_seconds(off)}
            timed = {}
            pair = [("on", a, a.encode(method, path_a, body(i)))]
            pair.append(("off", b, b.encode(method, path_b, body(i))))
            for label, client, request in pair if i % 2 else reversed(pair):
                begin = time.perf_counter()
                status, _ = client.send(request)
                timed[label] = (time.perf_counter() - begin) * 1e6
                assert status == 200, status
            if i >= 50:
                on_times.append(timed["on"])
                off_times.append(timed["off"])
        cpu_on = (cpu["on"] + cpu_seconds(on)) / requests * 1e6
        cpu_off = (cpu["off"] + cpu_seconds(off)) / requests * 1e6
        # Each request to one server is paired with the same request to the other, sent
        # right before or after it: the median of the differences shrugs off load drift.
        diff = statistics.median(x - y for x, y in zip(on_times, off_times, strict=True))
        p50_on, p50_off = statistics.median(on_times), statistics.median(off_times)
        print(
            f"{name:14} {p50_on:7.0f}µs {p50_off:7.0f}µs {p50_on / p50_off:6.3f} {diff:14.0f}µs"
            f" {cpu_on:7.0f}µs {cpu_off:7.0f}µs {cpu_on / cpu_off:6.3f}"
        )
    a.close()
    b.close()


def _observers_alone(rounds: int) -> None:
    metrics = Metrics()
    recorder = StatsRecorder(_NoStore(), clock=lambda: 1_700_000_000_000)  # type: ignore[arg-type]
    trace = SearchTrace(hit=True, nearest=0.93, seconds=0.003)
    trace.lookups.append((Strategy.SEMANTIC, True))
    trace.stage_seconds.update({Stage.EMBEDDING: 0.002, Stage.SEARCH: 0.0005})

    def observe_metrics() -> None:
        _both(metrics, trace)

    def record() -> None:
        recorder.searched("c", trace)

    for label, call in [
        ("metrics: request + search", observe_metrics),
        ("statistics recorder", record),
    ]:
        for _ in range(1000):
            call()
        begin = time.perf_counter()
        for _ in range(rounds):
            call()
        print(f"{label:28} {(time.perf_counter() - begin) / rounds * 1e6:6.2f} µs per request")


def _both(metrics: Metrics, trace: SearchTrace) -> None:
    metrics.request("/v1/caches/{cache_id}/entries/search", "POST", 200, 0.003)
    metrics.searched("c", trace)


class _NoStore:
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="timed requests per case")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        on = ServerProcess(Path(tmp) / "on")
        off = ServerProcess(Path(tmp) / "off", args=["--setting", "metrics", "false"])
        with on, off:
            _fill(on)
            _fill(off)
            load = os.getloadavg()
            print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
            _interleaved(on, off, args.requests)
            load = os.getloadavg()
            print(f"load average after:  {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    _observers_alone(200_000)
    print(f"cores: {os.cpu_count()}, python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
