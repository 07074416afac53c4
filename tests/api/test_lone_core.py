from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from semcache.api.app import create_app
from semcache.api.lone_core import REQUEST_THREADS, LoneCore, LoneCoreMiddleware
from semcache.config import Settings
from semcache.embedding.onnx import ONNXEmbedder
from semcache.store.sqlite import SQLiteStore
from semcache.testing.fakes import ManualClock

CORES = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set()
needs_two_cores = pytest.mark.skipif(len(CORES) < 2, reason="needs two usable cores")


class Parked:
    """A named thread that waits until told to stop, reporting its native id."""

    def __init__(self, name: str) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.stop.wait, args=(30,), name=name)
        self.thread.start()

    @property
    def cores(self) -> set[int]:
        assert self.thread.native_id is not None
        return os.sched_getaffinity(self.thread.native_id)

    def end(self) -> None:
        self.stop.set()
        self.thread.join()


@pytest.fixture
def threads() -> Iterator[dict[str, Parked]]:
    parked = {name: Parked(name) for name in ("semcache-embed_0", "semcache-index_0")}
    try:
        yield parked
    finally:
        for thread in parked.values():
            thread.end()
        os.sched_setaffinity(0, CORES)


@needs_two_cores
def test_a_lone_request_gathers_the_request_threads_on_one_core(
    threads: dict[str, Parked],
) -> None:
    lone = LoneCore(clock=ManualClock(100.0))
    lone.started()
    assert lone.core is not None
    assert os.sched_getaffinity(0) == {lone.core}
    assert threads["semcache-embed_0"].cores == {lone.core}
    assert threads["semcache-index_0"].cores == CORES  # background work keeps every core
    lone.finished()
    assert os.sched_getaffinity(0) == {lone.core}  # still gathered between lone requests


@needs_two_cores
def test_an_overlap_gives_back_every_core_until_a_quiet_second(
    threads: dict[str, Parked],
) -> None:
    clock = ManualClock(100.0)
    lone = LoneCore(clock=clock, quiet=1.0)
    lone.started()
    lone.started()
    assert lone.core is None
    assert os.sched_getaffinity(0) == CORES
    assert threads["semcache-embed_0"].cores == CORES
    lone.finished()
    lone.finished()
    clock.now += 0.5
    lone.started()
    assert lone.core is None
    lone.finished()
    clock.now += 1.0
    lone.started()
    assert lone.core is not None
    lone.finished()


@needs_two_cores
def test_threads_started_while_gathered_get_every_core_back(
    threads: dict[str, Parked],
) -> None:
    lone = LoneCore(clock=ManualClock(100.0))
    lone.started()
    # Both inherit the gathered core from this thread; a background thread gets every core
    # back at the next request, a request thread at the next overlap.
    index_builder = Parked("semcache-index_1")
    reader = Parked("semcache-sqlite-read_9")
    try:
        assert index_builder.cores == reader.cores == {lone.core}
        lone.finished()
        lone.started()
        assert lone.core is not None  # still one request at a time
        assert index_builder.cores == CORES
        assert reader.cores == {lone.core}
        lone.started()
        assert reader.cores == CORES
    finally:
        index_builder.end()
        reader.end()


def test_it_does_nothing_with_one_usable_core(threads: dict[str, Parked]) -> None:
    os.sched_setaffinity(0, {min(CORES)})
    lone = LoneCore(clock=ManualClock(100.0))
    lone.started()
    assert not lone.enabled
    assert lone.core is None


def _has_lone_core(settings: Settings) -> bool:
    app = create_app(settings)
    classes: list[object] = [m.cls for m in app.user_middleware]
    return LoneCoreMiddleware in classes


def test_the_server_gathers_only_with_one_worker_and_the_setting_on() -> None:
    assert _has_lone_core(Settings())
    assert not _has_lone_core(Settings(workers=2))
    assert not _has_lone_core(Settings(one_core_when_alone=False))


@pytest.mark.anyio
async def test_the_model_and_the_store_answer_on_threads_it_gathers(tmp_path: Path) -> None:
    def name(*_: object) -> str:
        return threading.current_thread().name

    embedder = ONNXEmbedder.from_directory(threads=1)
    store = await SQLiteStore.open(tmp_path)
    try:
        names = [await embedder._sessions.call(name), await store._read(name)]
        names.append(await store._write(name))
    finally:
        await embedder.close()
        await store.close()
    assert all(found.startswith(REQUEST_THREADS) for found in names), names
