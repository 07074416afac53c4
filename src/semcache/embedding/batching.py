"""Micro-batching: concurrent calls of a batch function share one call."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from semcache.errors import ConfigError, Overloaded

__all__ = [
    "DEFAULT_MAX_BATCH",
    "DEFAULT_MAX_QUEUE",
    "DEFAULT_MAX_WAIT",
    "BatchOptions",
    "BatchStats",
    "MicroBatcher",
]

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_MAX_BATCH = 64
"""Most items given to the batch function at once."""
DEFAULT_MAX_WAIT = 0.002
"""Longest a batch waits for more items, in seconds, and only when calls are concurrent."""
DEFAULT_MAX_QUEUE = 4096
"""Most items waiting for the batch function; a call beyond it is refused with 503."""


@dataclass(frozen=True, slots=True)
class BatchOptions:
    """How a `MicroBatcher` groups calls: ``max_wait`` is in seconds."""

    max_batch: int = DEFAULT_MAX_BATCH
    max_wait: float = DEFAULT_MAX_WAIT
    max_queue: int = DEFAULT_MAX_QUEUE

    def __post_init__(self) -> None:
        if self.max_batch < 1:
            raise ConfigError(f"max_batch must be at least 1, got {self.max_batch}")
        if not 0 <= self.max_wait <= 1:
            raise ConfigError(f"max_wait must be in [0, 1] seconds, got {self.max_wait}")
        if self.max_queue < 1:
            raise ConfigError(f"max_queue must be at least 1, got {self.max_queue}")


@dataclass(slots=True)
class BatchStats:
    """Counters: ``calls`` of the batch function for ``requests`` calls of the batcher."""

    calls: int = 0
    requests: int = 0
    items: int = 0
    largest: int = 0
    refused: int = 0


@dataclass(slots=True, eq=False)
class _Request(Generic[T, R]):
    items: list[T]
    future: asyncio.Future[Sequence[R]]


@dataclass(slots=True)
class _Lull:
    """A batch waiting for more requests: woken once ``target`` requests are queued."""

    target: int
    wake: asyncio.Future[None] = field(repr=False)


class MicroBatcher(Generic[T, R]):
    """Gathers the items of concurrent calls into calls of one batch function.

    While the function runs, new calls queue; when it returns, the queue (up to
    ``max_batch`` items, whole calls only) becomes the next batch. A lone caller is
    therefore never delayed. With ``concurrency`` above 1 (a function that can run that
    many calls side by side), a batch starts whenever fewer than that many are running.
    When calls are concurrent (the previous batch served more than one), a batch short of
    the previous one's size waits up to ``max_wait`` for more.
    A failure of the function is raised to every caller of that batch; a cancelled caller
    is dropped from the queue, or its result discarded. With ``max_queue`` items already
    waiting, a call raises `Overloaded` at once.

    The batcher belongs to the event loop that calls it; the function should keep heavy
    work off that loop (in a thread, say).

    Example::

        batcher = MicroBatcher(score_pairs, options=BatchOptions(max_batch=32))
        scores = await batcher([("a question", "a stored prompt")])
    """

    def __init__(
        self,
        call: Callable[[list[T]], Awaitable[Sequence[R]]],
        *,
        options: BatchOptions | None = None,
        name: str = "the model",
        concurrency: int = 1,
    ) -> None:
        if concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, got {concurrency}")
        self.options = options or BatchOptions()
        self.name = name
        self.concurrency = concurrency
        self.stats = BatchStats()
        self._call = call
        self._pending: deque[_Request[T, R]] = deque()
        self._queued = 0
        self._last_size = 0
        self._lull: _Lull | None = None
        self._worker: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._finished: asyncio.Future[None] | None = None

    @property
    def queued(self) -> int:
        """Items waiting for a batch."""
        return self._queued

    async def __call__(self, items: Sequence[T]) -> Sequence[R]:
        """The function's results for ``items``, in order.

        Raises:
            Overloaded: ``max_queue`` items are already waiting.
            Exception: whatever the batch function raised for this batch.
        """
        if not items:
            return []
        if self._queued and self._queued + len(items) > self.options.max_queue:
            self.stats.refused += 1
            raise Overloaded(
                f"{self.name} is overloaded: {self._queued} items are waiting; try again shortly"
            )
        loop = asyncio.get_running_loop()
        request: _Request[T, R] = _Request(list(items), loop.create_future())
        self._pending.append(request)
        self._queued += len(request.items)
        self._ensure_worker(loop)
        self._wake_if_ready()
        return await request.future

    def _ensure_worker(self, loop: asyncio.AbstractEventLoop) -> None:
        worker = self._worker
        if worker is not None and not worker.done() and worker.get_loop() is loop:
            return
        if worker is not None and worker.get_loop() is not loop:
            # Left behind by an event loop that has stopped: its callers are gone too.
            stale = [r for r in self._pending if r.future.get_loop() is not loop]
            for request in stale:
                self._pending.remove(request)
                self._queued -= len(request.items)
            self._lull = None
            self._running.clear()
            self._finished = None
        self._worker = loop.create_task(self._drain())

    def _wake_if_ready(self) -> None:
        lull = self._lull
        if lull is None or lull.wake.done():
            return
        if len(self._pending) >= lull.target or self._queued >= self.options.max_batch:
            lull.wake.set_result(None)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            if len(self._running) >= self.concurrency:
                self._finished = loop.create_future()
                await self._finished
                continue
            await self._gather_more()
            batch = self._take()
            if batch:
                task = loop.create_task(self._run(batch))
                self._running.add(task)
                task.add_done_callback(self._batch_done)

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        finished = self._finished
        if finished is not None and not finished.done():
            finished.set_result(None)

    async def _gather_more(self) -> None:
        target = self._last_size
        if self.options.max_wait <= 0 or target <= 1:
            return
        if len(self._pending) >= target or self._queued >= self.options.max_batch:
            return
        self._lull = _Lull(target, asyncio.get_running_loop().create_future())
        try:
            await asyncio.wait([self._lull.wake], timeout=self.options.max_wait)
        finally:
            self._lull = None

    def _take(self) -> list[_Request[T, R]]:
        batch: list[_Request[T, R]] = []
        size = 0
        while self._pending:
            request = self._pending[0]
            if (
                not request.future.done()
                and batch
                and size + len(request.items) > (self.options.max_batch)
            ):
                break
            self._pending.popleft()
            self._queued -= len(request.items)
            if request.future.done():  # cancelled while queued
                continue
            batch.append(request)
            size += len(request.items)
        return batch

    async def _run(self, batch: list[_Request[T, R]]) -> None:
        items = [item for request in batch for item in request.items]
        self._last_size = len(batch)
        self.stats.calls += 1
        self.stats.requests += len(batch)
        self.stats.items += len(items)
        self.stats.largest = max(self.stats.largest, len(items))
        try:
            results = await self._call(items)
            if len(results) != len(items):
                raise RuntimeError(
                    f"{self.name} gave {len(results)} results for {len(items)} items"
                )
        except asyncio.CancelledError:
            for request in batch:
                request.future.cancel()
            raise
        except Exception as exc:
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(exc)
            return
        start = 0
        for request in batch:
            end = start + len(request.items)
            if not request.future.done():
                request.future.set_result(results[start:end])
            start = end
