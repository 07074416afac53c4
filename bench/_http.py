"""A lean HTTP/1.1 client for load generation: one keep-alive connection per virtual user.

httpx spends a few hundred microseconds of Python per request, which on a 2-core machine
would be charged to the server under test. This client writes pre-encoded requests on a raw
asyncio stream and parses only the status line, ``Content-Length`` and the body, so the
client's share of each request stays in the tens of microseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import orjson

__all__ = ["Connection", "Load", "Reply", "run_load"]


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes

    def json(self) -> object:
        return orjson.loads(self.body)


class Connection:
    """One keep-alive HTTP/1.1 connection; requests are sent one at a time."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        fixed = {"Host": f"{self.host}:{self.port}", **(headers or {})}
        self._head = "".join(f"{name}: {value}\r\n" for name, value in fixed.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> Connection:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
            self._writer = None

    def encode(self, method: str, path: str, body: object = None) -> bytes:
        """A whole request, ready to send (encode once, send many times)."""
        payload = b"" if body is None else orjson.dumps(body)
        head = f"{method} {path} HTTP/1.1\r\n{self._head}Content-Length: {len(payload)}\r\n"
        if payload:
            head += "Content-Type: application/json\r\n"
        return (head + "\r\n").encode() + payload

    async def send(self, request: bytes) -> Reply:
        """Send an encoded request and read the whole reply."""
        if self._reader is None or self._writer is None:
            raise RuntimeError("connection is not open")
        self._writer.write(request)
        status_line = await self._reader.readline()
        if not status_line:
            raise ConnectionError("server closed the connection")
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        while True:
            line = await self._reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await self._reader.readexactly(length) if length else b""
        return Reply(status, body)

    async def request(self, method: str, path: str, body: object = None) -> Reply:
        return await self.send(self.encode(method, path, body))


Check = Callable[[Reply], None]
Counters = Callable[[], dict[str, float]]


@dataclass
class Load:
    """The outcome of a load run: per-request latencies in milliseconds and the rate."""

    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: int = 0
    counted: dict[str, float] = field(default_factory=dict)
    """How much each of the run's ``counters`` grew while the load ran."""

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


async def run_load(
    url: str,
    headers: dict[str, str],
    requests: Sequence[bytes] | Callable[[Connection], Sequence[bytes]],
    *,
    clients: int,
    seconds: float | None = None,
    total: int | None = None,
    check: Check | None = None,
    warmup: int = 0,
    counters: Counters | None = None,
) -> Load:
    """Closed-loop load: ``clients`` connections each send the next request as soon as
    the previous answer arrived, for ``seconds`` or until ``total`` requests were sent.

    ``requests`` are encoded requests: with ``seconds``, cycled through (each client
    starting at a different offset); with ``total``, taken in order, each by the first
    client free. ``check`` may raise on a wrong reply; failures are counted, not raised.
    ``counters``, if given, is read when the timed part starts (after the warm-up) and
    when it ends; `Load.counted` holds the difference.
    """
    if (seconds is None) == (total is None):
        raise ValueError("give seconds or total")
    result = Load()
    counter = iter(range(total)) if total is not None else None
    deadline = 0.0

    async def user(number: int) -> None:
        async with Connection(url, headers) as connection:
            batch = requests(connection) if callable(requests) else requests
            position = number * max(1, len(batch) // clients)
            for _ in range(warmup):
                await connection.send(batch[position % len(batch)])
                position += 1
            ready.append(number)
            if len(ready) == clients:
                all_ready.set()
            await started.wait()
            while True:
                if counter is not None:
                    # A fixed total is one pass over the requests, each sent once.
                    index = next(counter, None)
                    if index is None:
                        return
                    position = index
                elif time.perf_counter() >= deadline:
                    return
                request = batch[position % len(batch)]
                position += 1
                begin = time.perf_counter()
                reply = await connection.send(request)
                result.latencies.append((time.perf_counter() - begin) * 1000)
                try:
                    if check is not None:
                        check(reply)
                    elif reply.status >= 400:
                        raise AssertionError(f"HTTP {reply.status}: {reply.body[:200]!r}")
                except AssertionError:
                    result.errors += 1

    started, all_ready = asyncio.Event(), asyncio.Event()
    ready: list[int] = []
    tasks = [asyncio.create_task(user(number)) for number in range(clients)]
    waiter = asyncio.create_task(all_ready.wait())
    await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        if task.done() and task.exception() is not None:
            waiter.cancel()
            await _gather(tasks)
    before = counters() if counters else {}
    begin = time.perf_counter()
    deadline = begin + (seconds or 0.0)
    started.set()
    await _gather(tasks)
    result.seconds = time.perf_counter() - begin
    if counters:
        result.counted = {name: value - before[name] for name, value in counters().items()}
    return result


async def _gather(tasks: list[asyncio.Task[None]]) -> None:
    awaitables: list[Awaitable[None]] = list(tasks)
    await asyncio.gather(*awaitables)
