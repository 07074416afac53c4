"""One core for a lone request: while requests come one at a time, the threads that answer
them share one core."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Collection

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["REQUEST_THREADS", "LoneCore", "LoneCoreMiddleware"]

REQUEST_THREADS = ("semcache-embed", "semcache-verify", "semcache-sqlite")
"""Name prefixes of the threads a request passes through besides the event loop's: the
models' and the store's (background work, such as index builds, is left on every core)."""


class LoneCore:
    """Moves the threads that answer requests onto one core while requests come one at a
    time, and gives them back their own cores as soon as two overlap.

    A lone request's steps run one after another on several threads (the event loop's,
    the model's, the store's). On two cores each hand-off wakes the other core, idle since
    the last one (on a virtual machine, a halted virtual processor), and finds its caches
    cold; on one core the next thread is ready where the request's data already is (one
    client's search p50 9% lower at 100,000 entries: docs/performance.md). Overlapping
    requests need every core: the first overlap restores each thread's cores, and the
    threads go back to one core only after ``quiet`` seconds without an overlap. A thread
    started meanwhile inherits the core of the thread that started it: a background one
    (an index build, say) gets every core back at the next request, a request one at the
    next overlap.

    `started` and `finished` are called on the event loop's thread, which is moved too.
    Linux only; does nothing where fewer than two cores are usable.
    """

    def __init__(
        self,
        *,
        quiet: float = 1.0,
        prefixes: Collection[str] = REQUEST_THREADS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cores = _usable_cores()
        self.enabled = len(self._cores) > 1
        self._quiet = quiet
        self._prefixes = tuple(prefixes)
        self._clock = clock
        self._running = 0
        self._overlapped_at = -math.inf
        self._core: int | None = None
        self._moved: dict[int, set[int]] = {}
        self._seen: set[int] = set()

    @property
    def core(self) -> int | None:
        """The core the request threads are on, or None while they have their own."""
        return self._core

    def started(self) -> None:
        self._running += 1
        if not self.enabled:
            return
        if self._running > 1:
            self._overlapped_at = self._clock()
            if self._core is not None:
                self._release(self._core)
        elif self._core is None and self._clock() - self._overlapped_at >= self._quiet:
            self._gather()
        elif self._core is not None:
            self._sort_newcomers(self._core)

    def finished(self) -> None:
        self._running -= 1

    def _gather(self) -> None:
        core = _current_core()
        if core is None or core not in self._cores:
            return
        self._seen = {t.native_id for t in threading.enumerate() if t.native_id}
        self._moved = {}
        for tid in self._request_threads():
            try:
                self._moved[tid] = os.sched_getaffinity(tid)
                os.sched_setaffinity(tid, {core})
            except OSError:  # the thread has just ended
                continue
        self._core = core

    def _release(self, core: int) -> None:
        self._core = None
        self._sort_newcomers(core)
        # Only threads of this process: a thread that ended may have left its id to another.
        for thread in threading.enumerate():
            tid = thread.native_id
            if not tid or tid not in self._moved:
                continue
            try:
                os.sched_setaffinity(tid, self._moved[tid])
            except OSError:  # the thread has just ended
                continue
        self._moved = {}

    def _sort_newcomers(self, core: int) -> None:
        """Threads started since the gathering took the gathered core from the thread that
        started them: a background one gets every core back now, a request one at the
        release."""
        for thread in threading.enumerate():
            tid = thread.native_id
            if not tid or tid in self._seen:
                continue
            self._seen.add(tid)
            try:
                if os.sched_getaffinity(tid) != {core}:
                    continue
                if thread.name.startswith(self._prefixes):
                    self._moved[tid] = self._cores
                else:
                    os.sched_setaffinity(tid, self._cores)
            except OSError:
                continue

    def _request_threads(self) -> list[int]:
        here = threading.get_native_id()
        found = [
            t.native_id
            for t in threading.enumerate()
            if t.native_id and t.native_id != here and t.name.startswith(self._prefixes)
        ]
        return [here, *found]


class LoneCoreMiddleware:
    """Tells a `LoneCore` when each HTTP request starts and ends."""

    def __init__(self, app: ASGIApp, *, lone_core: LoneCore) -> None:
        self.app = app
        self.lone_core = lone_core

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.lone_core.started()
        try:
            await self.app(scope, receive, send)
        finally:
            self.lone_core.finished()


def _usable_cores() -> set[int]:
    if not hasattr(os, "sched_getaffinity") or not hasattr(os, "sched_setaffinity"):
        return set()
    return set(os.sched_getaffinity(0))


def _current_core() -> int | None:
    """The core this thread is running on (field 39 of its /proc stat line)."""
    try:
        with open("/proc/thread-self/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return int(fields[36])
    except (OSError, IndexError, ValueError):
        return None
