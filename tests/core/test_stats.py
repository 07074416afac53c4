from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from semcache.core.observer import SearchTrace
from semcache.core.recorder import StatsRecorder
from semcache.core.stats import (
    LATENCY_BOUNDS_MS,
    MINUTE,
    StatsReader,
    Window,
    latency_bucket,
    percentile,
    similarity_bucket,
)
from semcache.errors import StoreUnavailable
from semcache.store.base import CacheConfig, Entry, StatsBucket
from semcache.store.sqlite import SQLiteStore
from semcache.testing.fakes import FakeEmbedder, ManualClock

pytestmark = pytest.mark.anyio

START = 1_700_000_000_000 - 1_700_000_000_000 % (60 * MINUTE)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = await SQLiteStore.open(tmp_path)
    await store.create_cache(CacheConfig(id="c", name="c", embedder="fake", created_at=0))
    yield store
    await store.close()


def _trace(milliseconds: float, *, hit: bool, nearest: float | None = None) -> SearchTrace:
    trace = SearchTrace(hit=hit, nearest=nearest)
    trace.seconds = milliseconds / 1000
    return trace


def test_buckets_of_latency_and_similarity() -> None:
    assert latency_bucket(0.2) == 0 and latency_bucket(1.0) == 0 and latency_bucket(1.5) == 1
    assert latency_bucket(99_999) == len(LATENCY_BOUNDS_MS)
    assert [similarity_bucket(s) for s in (0.0, -0.3, 0.049, 0.05, 0.87, 1.0)] == [
        0,
        0,
        0,
        1,
        17,
        19,
    ]


def test_percentile_interpolates_inside_a_bucket() -> None:
    bounds = (10, 20, 30)
    assert percentile([0, 0, 0, 0], bounds, 0.95) is None
    assert percentile([10, 0, 0, 0], bounds, 0.5) == pytest.approx(5.0)
    assert percentile([50, 50, 0, 0], bounds, 0.95) == pytest.approx(19.0)
    assert percentile([0, 0, 0, 7], bounds, 0.95) == 30.0


async def test_recorded_searches_are_read_back_per_window(store: SQLiteStore) -> None:
    clock = ManualClock(START + 30 * MINUTE + 5_000)
    recorder = StatsRecorder(store, clock=clock)
    for milliseconds, hit, nearest in [(2.0, True, 0.97), (4.0, False, 0.41), (40.0, True, 1.0)]:
        recorder.searched("c", _trace(milliseconds, hit=hit, nearest=nearest))
    recorder.searched("c", _trace(3.0, hit=False))
    clock.now += MINUTE
    recorder.searched("c", _trace(3.0, hit=True, nearest=0.9))
    assert await recorder.flush() == 2
    stats = await StatsReader(store).read("c", Window.HOUR, now=clock.now)
    assert (stats.searches, stats.hits, stats.hit_ratio) == (5, 3, 0.6)
    assert stats.avg_latency_ms == pytest.approx(52 / 5)
    assert stats.p95_latency_ms is not None and 30 < stats.p95_latency_ms <= 50
    assert sum(stats.similarity_counts) == 4 and stats.similarity_counts[19] == 2
    assert len(stats.points) == 60 and stats.points[-1].searches == 1
    assert stats.points[-2].searches == 4 and stats.points[-2].items == 0
    day = await StatsReader(store).read("c", Window.DAY, now=clock.now)
    assert len(day.points) == 96 and day.searches == 5
    assert sum(p.searches for p in day.points) == 5


async def test_items_are_sampled_on_changes_and_once_a_minute_while_searched(
    store: SQLiteStore,
) -> None:
    clock = ManualClock(START + 30 * MINUTE + 5_000)
    recorder = StatsRecorder(store, clock=clock)
    recorder.changed("c")
    await recorder.flush()
    embedder = FakeEmbedder()
    [vector] = await embedder.embed(["x"])
    await store.put(Entry("c", "e1", "x", "y", {}, clock.now, vector=vector))
    recorder.changed("c")
    await recorder.flush()  # changed: sampled again
    recorder.searched("c", _trace(1.0, hit=True))
    await store.delete("c", "e1", now=clock.now)
    await recorder.flush()  # searched only: not sampled again this minute
    clock.now += MINUTE
    recorder.searched("c", _trace(1.0, hit=True))
    await recorder.flush()
    buckets = await store.read_stats("c", since=0)
    assert [b.items for b in buckets] == [1, 0]  # the larger sample of the minute, then 0


async def test_a_failed_flush_keeps_its_counts(store: SQLiteStore) -> None:
    clock = ManualClock(START + 30 * MINUTE + 5_000)
    recorder = StatsRecorder(store, clock=clock)
    recorder.searched("c", _trace(1.0, hit=True))

    async def unavailable(buckets: object) -> None:
        raise StoreUnavailable("down")

    working = store.record_stats
    store.record_stats = unavailable  # type: ignore[method-assign]
    assert await recorder.flush() == 0
    store.record_stats = working  # type: ignore[method-assign]
    recorder.searched("c", _trace(1.0, hit=False))
    assert await recorder.flush() == 1
    [bucket] = await store.read_stats("c", since=0)
    assert (bucket.searches, bucket.hits) == (2, 1)


async def test_statistics_of_several_recorders_add_up(store: SQLiteStore) -> None:
    clock = ManualClock(START + 30 * MINUTE + 5_000)
    recorders = [StatsRecorder(store, clock=clock) for _ in range(3)]
    for recorder in recorders:
        recorder.searched("c", _trace(1.0, hit=True))
        await recorder.flush()
    stats = await StatsReader(store).read("c", Window.WEEK, now=clock.now)
    assert stats.searches == 3 and len(stats.points) == 168


async def test_old_buckets_fall_outside_the_window(store: SQLiteStore) -> None:
    clock = ManualClock(START + 30 * MINUTE + 5_000)
    await store.record_stats([StatsBucket("c", START - 2 * 60 * MINUTE, searches=7)])
    assert (await StatsReader(store).read("c", Window.HOUR, now=clock.now)).searches == 0
    assert (await StatsReader(store).read("c", Window.DAY, now=clock.now)).searches == 7


async def test_stopping_mid_flush_loses_and_repeats_nothing(store: SQLiteStore) -> None:
    clock = ManualClock(START + 30 * MINUTE + 5_000)
    recorder = StatsRecorder(store, clock=clock)
    started = asyncio.Event()
    release = asyncio.Event()
    writing = store.record_stats

    async def slow(buckets: object) -> None:
        started.set()
        await release.wait()
        await writing(buckets)  # type: ignore[arg-type]

    store.record_stats = slow  # type: ignore[method-assign]
    runner = asyncio.create_task(recorder.run(0.001))
    recorder.searched("c", _trace(1.0, hit=True))
    await started.wait()
    recorder.searched("c", _trace(1.0, hit=False))  # after the flush took its counts
    runner.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await runner
    store.record_stats = writing  # type: ignore[method-assign]
    [bucket] = await store.read_stats("c", since=0)
    assert (bucket.searches, bucket.hits) == (2, 1)
