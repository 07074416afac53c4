from __future__ import annotations

import itertools
import threading
import time

from semcache.store._index_refresh import QuietRefresher


def test_refreshes_each_cache_written_to_once_writes_pause() -> None:
    refreshed: list[tuple[str, float]] = []
    writes: list[float] = []
    refresher = QuietRefresher(
        lambda cache_id: refreshed.append((cache_id, time.monotonic())), quiet=0.1
    )
    try:
        for _ in range(10):  # a burst, with pauses shorter than `quiet`
            time.sleep(0.02)
            refresher.wrote("a")
            refresher.wrote("b")
            writes.append(time.monotonic())
        deadline = time.monotonic() + 5
        while len([at for _, at in refreshed if at > writes[-1]]) < 2:
            assert time.monotonic() < deadline, refreshed
            time.sleep(0.01)
        final = [(cache_id, at) for cache_id, at in refreshed if at > writes[-1]]
        assert sorted(cache_id for cache_id, _ in final) == ["a", "b"]
        assert all(at - writes[-1] >= 0.09 for _, at in final)
        if max(later - earlier for earlier, later in itertools.pairwise(writes)) < 0.08:
            assert len(refreshed) == 2  # none during the burst (unless the machine paused it)
    finally:
        refresher.close()


def test_a_failed_refresh_leaves_the_next_one_running() -> None:
    calls: list[str] = []
    second = threading.Event()

    def refresh(cache_id: str) -> None:
        calls.append(cache_id)
        if cache_id == "bad":
            raise RuntimeError("boom")
        second.set()

    refresher = QuietRefresher(refresh, quiet=0.01)
    try:
        refresher.wrote("bad")
        deadline = time.monotonic() + 5
        while not calls and time.monotonic() < deadline:
            time.sleep(0.005)
        refresher.wrote("good")
        assert second.wait(5)
        assert calls == ["bad", "good"]
    finally:
        refresher.close()


def test_close_stops_the_thread_and_later_writes_refresh_nothing() -> None:
    calls: list[str] = []
    refresher = QuietRefresher(calls.append, quiet=0.01)
    refresher.close()
    refresher.wrote("a")
    time.sleep(0.05)
    assert calls == []
    assert not refresher._thread.is_alive()
