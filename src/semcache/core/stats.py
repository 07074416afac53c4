"""Per-cache statistics over the last hour, day or week, read from the store's buckets.

The store keeps one `StatsBucket` per cache and minute, added up over every process that
served the cache (see `semcache.core.recorder`). Here they become totals and a series of
points for charts; the 95th percentile of latency is interpolated in a histogram.
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import zip_longest
from typing import Final

from semcache.store.base import StatsBucket, Store
from semcache.types import CacheId, Millis

__all__ = [
    "LATENCY_BOUNDS_MS",
    "MINUTE",
    "SIMILARITY_BOUNDS",
    "STATS_RETENTION",
    "CacheStats",
    "StatsPoint",
    "StatsReader",
    "Window",
    "latency_bucket",
    "percentile",
    "similarity_bucket",
]

MINUTE: Final[Millis] = 60_000

STATS_RETENTION: Final[Millis] = 8 * 24 * 60 * MINUTE
"""How long statistics are kept: a week, and a day more."""

LATENCY_BOUNDS_MS: Final = (
    1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000,
)  # fmt: skip
"""Upper bounds of the latency histogram's buckets, in milliseconds; one more bucket holds
the slower searches."""

SIMILARITY_BOUNDS: Final = tuple(round(0.05 * i, 2) for i in range(1, 21))
"""Upper bounds of the nearest-similarity histogram's 20 buckets: [0, 0.05), …, [0.95, 1]."""


def latency_bucket(milliseconds: float) -> int:
    """The index of the latency bucket holding this duration."""
    return bisect.bisect_left(LATENCY_BOUNDS_MS, milliseconds)


def similarity_bucket(similarity: float) -> int:
    """The index of the similarity bucket holding this similarity (1.0 is in the last)."""
    return min(int(similarity * 20), 19) if similarity > 0 else 0


def percentile(counts: Sequence[int], bounds: Sequence[float], fraction: float) -> float | None:
    """The value below which ``fraction`` of a histogram's observations fall, interpolated
    linearly inside its bucket; None for an empty histogram. The open last bucket answers
    its lower bound."""
    total = sum(counts)
    if total == 0:
        return None
    rank, seen = fraction * total, 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            if index >= len(bounds):
                return float(bounds[-1])
            low = 0.0 if index == 0 else float(bounds[index - 1])
            return low + (float(bounds[index]) - low) * (rank - seen) / count
        seen += count
    return float(bounds[-1])


class Window(enum.Enum):
    """A span of time to report on, and the width of each point of its series."""

    HOUR = ("hour", 60 * MINUTE, MINUTE)
    DAY = ("day", 24 * 60 * MINUTE, 15 * MINUTE)
    WEEK = ("week", 7 * 24 * 60 * MINUTE, 60 * MINUTE)

    def __init__(self, label: str, span: Millis, step: Millis) -> None:
        self.label, self.span, self.step = label, span, step

    @classmethod
    def named(cls, label: str) -> Window:
        """The window called ``label`` (``hour``, ``day`` or ``week``); ValueError if none."""
        for window in cls:
            if window.label == label:
                return window
        raise ValueError(f"unknown window {label!r}: use hour, day or week")


@dataclass(frozen=True, slots=True)
class StatsPoint:
    """The searches of one step of a window; ``items`` is the last sample taken in it."""

    start: Millis
    searches: int
    hits: int
    hit_ratio: float | None
    avg_latency_ms: float | None
    p95_latency_ms: float | None
    items: int | None


@dataclass(frozen=True, slots=True)
class CacheStats:
    """A cache's searches over a window: totals, a series of points, and how similar the
    nearest entry was on every search, as counts per `SIMILARITY_BOUNDS` bucket."""

    cache_id: CacheId
    window: Window
    since: Millis
    searches: int
    hits: int
    hit_ratio: float | None
    avg_latency_ms: float | None
    p95_latency_ms: float | None
    items: int
    points: list[StatsPoint]
    similarity_counts: tuple[int, ...]


def _total(cache_id: CacheId, start: Millis, buckets: Sequence[StatsBucket]) -> StatsBucket:
    latency: tuple[int, ...] = ()
    similarity: tuple[int, ...] = ()
    items = None
    for b in buckets:
        latency = tuple(x + y for x, y in zip_longest(latency, b.latency_counts, fillvalue=0))
        similarity = tuple(
            x + y for x, y in zip_longest(similarity, b.similarity_counts, fillvalue=0)
        )
        items = b.items if b.items is not None else items
    return StatsBucket(
        cache_id=cache_id,
        minute=start,
        searches=sum(b.searches for b in buckets),
        hits=sum(b.hits for b in buckets),
        latency_ms_sum=sum(b.latency_ms_sum for b in buckets),
        latency_counts=latency,
        similarity_counts=similarity,
        items=items,
    )


def _point(total: StatsBucket) -> StatsPoint:
    searches = total.searches
    return StatsPoint(
        start=total.minute,
        searches=searches,
        hits=total.hits,
        hit_ratio=total.hits / searches if searches else None,
        avg_latency_ms=total.latency_ms_sum / searches if searches else None,
        p95_latency_ms=percentile(total.latency_counts, LATENCY_BOUNDS_MS, 0.95),
        items=total.items,
    )


class StatsReader:
    """Reads a cache's statistics from the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def read(self, cache_id: CacheId, window: Window, *, now: Millis) -> CacheStats:
        """The cache's statistics over ``window`` up to ``now``, with the current count of
        live entries as ``items``."""
        first = (now - now % window.step) - window.span + window.step
        buckets = await self.store.read_stats(cache_id, since=first)
        steps: list[list[StatsBucket]] = [[] for _ in range(window.span // window.step)]
        for bucket in buckets:
            index = (bucket.minute - first) // window.step
            if 0 <= index < len(steps):
                steps[index].append(bucket)
        points = [
            _point(_total(cache_id, first + i * window.step, step)) for i, step in enumerate(steps)
        ]
        whole = _point(_total(cache_id, first, buckets))
        return CacheStats(
            cache_id=cache_id,
            window=window,
            since=first,
            searches=whole.searches,
            hits=whole.hits,
            hit_ratio=whole.hit_ratio,
            avg_latency_ms=whole.avg_latency_ms,
            p95_latency_ms=whole.p95_latency_ms,
            items=await self.store.count(cache_id, now=now),
            points=points,
            similarity_counts=_total(cache_id, first, buckets).similarity_counts,
        )
