"""A pool of ONNX Runtime sessions of one model, each running on one core."""

from __future__ import annotations

import asyncio
import os
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import onnxruntime as ort

from semcache.errors import ConfigError

__all__ = ["SessionPool"]

T = TypeVar("T")


class SessionPool:
    """Sessions of one model that run calls side by side, one core each, and one more
    session that spreads a lone call over every core.

    On few cores, several single-threaded calls at once do more work than calls spread
    over every core, whose threads wait for each other at every layer (on two cores, 10
    to 21% more searches a second at 32 clients: bench/ab.py). A call that runs
    while no other does (one client's requests, one after another) goes to the ``spread``
    session instead, which finishes it sooner. `call` runs work on the pool's own threads,
    one per single-threaded session.
    """

    def __init__(
        self,
        sessions: Sequence[ort.InferenceSession],
        *,
        thread_name: str,
        spread: ort.InferenceSession | None = None,
    ) -> None:
        if not sessions:
            raise ConfigError("a session pool needs at least one session")
        self.size = len(sessions)
        self.first = sessions[0]
        self._spread = spread
        # The session put back last is taken first, so that calls one at a time all run
        # on one session, whose weights are still in the cache from its last call.
        self._free: queue.LifoQueue[ort.InferenceSession] = queue.LifoQueue()
        for session in sessions:
            self._free.put(session)
        self._running = 0
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix=thread_name)

    @classmethod
    def load(
        cls, path: Path, size: int | None, *, thread_name: str, spread: bool = True
    ) -> SessionPool:
        """``size`` single-threaded sessions of the model at ``path`` (default: one per
        core), and, if ``spread`` and ``size`` is above 1, one session that spreads a call
        over ``size`` cores.

        Raises:
            ConfigError: ``size`` is below 1, or ONNX Runtime cannot load the model.
        """
        if size is not None and size < 1:
            raise ConfigError(f"threads must be at least 1, got {size}")
        count = size or os.cpu_count() or 1
        sessions = [_load_session(path, threads=1) for _ in range(count)]
        # 0 lets ONNX Runtime take every core and pin its threads to them.
        every = 0 if count == os.cpu_count() else count
        spreading = _load_session(path, threads=every) if spread and count > 1 else None
        return cls(sessions, thread_name=thread_name, spread=spreading)

    def run(self, outputs: list[str], feed: dict[str, np.ndarray]) -> list[Any]:
        """``session.run`` on the calling thread: on the spreading session if no other call
        is running, else on a free single-threaded one (waiting for one if all are busy)."""
        with self._lock:
            spread = self._spread if self._running == 0 else None
            self._running += 1
        try:
            if spread is not None:
                return self._run(spread, outputs, feed)
            session = self._free.get()
            try:
                return self._run(session, outputs, feed)
            finally:
                self._free.put(session)
        finally:
            with self._lock:
                self._running -= 1

    def warm(self, outputs: list[str], feed: dict[str, np.ndarray]) -> None:
        """Run ``feed`` once on every session, so no request pays for a first run."""
        sessions = [self._free.get() for _ in range(self.size)]
        spread = [] if self._spread is None else [self._spread]
        try:
            for session in sessions + spread:
                self._run(session, outputs, feed)
        finally:
            for session in sessions:
                self._free.put(session)

    async def call(self, work: Callable[..., T], *args: Any) -> T:
        """``work(*args)`` on one of the pool's threads, so the event loop keeps serving."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, work, *args)

    def close(self) -> None:
        """Stop the pool's threads; calls already queued still finish."""
        self._executor.shutdown(wait=False)

    @staticmethod
    def _run(
        session: ort.InferenceSession, outputs: list[str], feed: dict[str, np.ndarray]
    ) -> list[Any]:
        result: list[Any] = session.run(outputs, feed)
        return result


def _load_session(path: Path, *, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Idle worker threads would otherwise spin for a while after each call, taking the
    # cores that the event loop and the store need to finish the same request.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ConfigError(f"ONNX Runtime cannot load {path}: {exc}") from exc
