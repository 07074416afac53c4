"""Counting searches per cache and minute, and adding the counts to the store every few
seconds, so that statistics survive restarts and add up over processes and replicas."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from semcache.core.observer import SearchTrace
from semcache.core.stats import (
    LATENCY_BOUNDS_MS,
    MINUTE,
    SIMILARITY_BOUNDS,
    latency_bucket,
    similarity_bucket,
)
from semcache.errors import SemcacheError
from semcache.store.base import StatsBucket, Store
from semcache.types import CacheId, Millis

__all__ = ["StatsRecorder"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _Counts:
    searches: int = 0
    hits: int = 0
    latency_ms_sum: float = 0.0
    latency: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS_MS) + 1))
    similarity: list[int] = field(default_factory=lambda: [0] * len(SIMILARITY_BOUNDS))
    items: int | None = None

    def bucket(self, cache_id: CacheId, minute: Millis) -> StatsBucket:
        return StatsBucket(
            cache_id=cache_id,
            minute=minute,
            searches=self.searches,
            hits=self.hits,
            latency_ms_sum=self.latency_ms_sum,
            latency_counts=tuple(self.latency),
            similarity_counts=tuple(self.similarity),
            items=self.items,
        )


class StatsRecorder:
    """A `CacheObserver` that counts searches in memory and adds them to the store's
    per-minute buckets at each `flush`.

    The entry count of a cache is sampled at a flush when its entries changed since the
    last one, and once a minute while it is searched. A flush that fails keeps its counts
    for the next one.
    """

    def __init__(self, store: Store, *, clock: Callable[[], Millis]) -> None:
        self.store = store
        self.clock = clock
        self._pending: dict[tuple[CacheId, Millis], _Counts] = {}
        self._sampled: set[tuple[CacheId, Millis]] = set()
        self._dirty: set[CacheId] = set()

    def searched(self, cache_id: CacheId, trace: SearchTrace) -> None:
        counts = self._counts(cache_id)
        milliseconds = trace.seconds * 1000
        counts.searches += 1
        counts.hits += trace.hit
        counts.latency_ms_sum += milliseconds
        counts.latency[latency_bucket(milliseconds)] += 1
        if trace.nearest is not None:
            counts.similarity[similarity_bucket(trace.nearest)] += 1

    def changed(self, cache_id: CacheId) -> None:
        self._counts(cache_id)
        self._dirty.add(cache_id)

    def _counts(self, cache_id: CacheId) -> _Counts:
        now = self.clock()
        key = (cache_id, now - now % MINUTE)
        counts = self._pending.get(key)
        if counts is None:
            counts = self._pending[key] = _Counts()
        return counts

    async def flush(self) -> int:
        """Add what was counted since the last flush to the store; returns how many
        buckets were written."""
        pending, self._pending = self._pending, {}
        if not pending:
            return 0
        try:
            await self._sample_items(pending)
            buckets = [counts.bucket(*key) for key, counts in pending.items()]
            await self.store.record_stats(buckets)
        except SemcacheError as exc:
            logger.warning("saving statistics failed, will retry: %s", exc)
            self._keep(pending)
            return 0
        return len(buckets)

    async def run(self, every: float) -> None:
        """Flush every ``every`` seconds until cancelled, then flush once more. A flush
        under way when cancelled is finished first, so no count is lost or written twice."""
        flushing: asyncio.Future[int] | None = None
        try:
            while True:
                await asyncio.sleep(every)
                flushing = asyncio.ensure_future(self.flush())
                await asyncio.shield(flushing)
        finally:
            if flushing is not None and not flushing.done():
                await asyncio.wait([flushing])
            with contextlib.suppress(SemcacheError):
                await self.flush()

    async def _sample_items(self, pending: dict[tuple[CacheId, Millis], _Counts]) -> None:
        now = self.clock()
        self._sampled = {key for key in self._sampled if key[1] >= now - now % MINUTE - MINUTE}
        dirty, self._dirty = self._dirty, set()
        counted: dict[CacheId, int] = {}
        for key, counts in pending.items():
            cache_id = key[0]
            if counts.items is None and (cache_id in dirty or key not in self._sampled):
                if cache_id not in counted:
                    counted[cache_id] = await self.store.count(cache_id, now=now)
                counts.items = counted[cache_id]
                self._sampled.add(key)

    def _keep(self, pending: dict[tuple[CacheId, Millis], _Counts]) -> None:
        for key, counts in pending.items():
            newer = self._pending.get(key)
            if newer is not None:
                counts.searches += newer.searches
                counts.hits += newer.hits
                counts.latency_ms_sum += newer.latency_ms_sum
                counts.latency = [a + b for a, b in zip(counts.latency, newer.latency, strict=True)]
                counts.similarity = [
                    a + b for a, b in zip(counts.similarity, newer.similarity, strict=True)
                ]
            self._pending[key] = counts
