"""The conformance tests of statistics and entry listing; part of `StoreContractTests`."""

from __future__ import annotations

import asyncio

import pytest

from semcache.store.base import Entry, StatsBucket, Store
from semcache.testing._store_factories import CACHE, HOUR, NOW, OTHER_CACHE, EntryFactory
from semcache.types import CacheId, Millis

__all__ = ["StatsContractTests"]

MINUTE: Millis = 60_000
START: Millis = NOW - NOW % MINUTE


def _bucket(minute: int, cache_id: CacheId = CACHE, **counts: object) -> StatsBucket:
    return StatsBucket(cache_id=cache_id, minute=START + minute * MINUTE, **counts)  # type: ignore[arg-type]


async def _pages(store: Store, size: int) -> list[list[Entry]]:
    pages: list[list[Entry]] = []
    after = None
    while True:
        page = await store.list_entries(CACHE, now=NOW, limit=size, after=after)
        if not page:
            return pages
        pages.append(page)
        after = (page[-1].created_at, page[-1].id)


@pytest.mark.anyio
class StatsContractTests:
    """`Store.record_stats`, `read_stats`, `prune_stats` and `list_entries`."""

    async def test_recorded_buckets_of_one_minute_add_up(
        self, store: Store, caches: object
    ) -> None:
        first = _bucket(0, searches=3, hits=2, latency_ms_sum=7.5, latency_counts=(1, 2), items=10)
        second = _bucket(
            0,
            searches=2,
            hits=1,
            latency_ms_sum=2.5,
            latency_counts=(1, 0, 4),
            similarity_counts=(0, 5),
        )
        await store.record_stats([first])
        await store.record_stats([second])
        assert await store.read_stats(CACHE, since=START) == [
            _bucket(
                0,
                searches=5,
                hits=3,
                latency_ms_sum=10.0,
                latency_counts=(2, 2, 4),
                similarity_counts=(0, 5),
                items=10,
            )
        ]

    async def test_items_keep_the_larger_sample(self, store: Store, caches: object) -> None:
        await store.record_stats([_bucket(0, items=4), _bucket(1, items=7)])
        await store.record_stats([_bucket(0, items=9), _bucket(1, items=3), _bucket(2)])
        found = await store.read_stats(CACHE, since=START)
        assert [b.items for b in found] == [9, 7, None]

    async def test_read_stats_oldest_first_from_since_in_one_cache(
        self, store: Store, caches: object
    ) -> None:
        await store.record_stats(
            [_bucket(5, searches=5), _bucket(1, searches=1), _bucket(3, searches=3)]
        )
        await store.record_stats([_bucket(4, cache_id=OTHER_CACHE, searches=4)])
        found = await store.read_stats(CACHE, since=START + 3 * MINUTE)
        assert [(b.minute - START) // MINUTE for b in found] == [3, 5]
        assert [b.searches for b in found] == [3, 5]
        assert await store.read_stats(OTHER_CACHE, since=START) == [
            _bucket(4, cache_id=OTHER_CACHE, searches=4)
        ]

    async def test_concurrent_records_all_count(self, store: Store, caches: object) -> None:
        one = _bucket(0, searches=1, hits=1, latency_ms_sum=1.0, latency_counts=(0, 1))
        await asyncio.gather(*(store.record_stats([one]) for _ in range(25)))
        [total] = await store.read_stats(CACHE, since=START)
        assert (total.searches, total.hits, total.latency_counts) == (25, 25, (0, 25))
        assert total.latency_ms_sum == pytest.approx(25.0)

    async def test_stats_of_unknown_cache_are_dropped(self, store: Store, caches: object) -> None:
        await store.record_stats([_bucket(0, cache_id="ghost", searches=1), _bucket(0)])
        assert await store.read_stats("ghost", since=START) == []
        assert len(await store.read_stats(CACHE, since=START)) == 1

    async def test_deleting_a_cache_deletes_its_stats(self, store: Store, caches: object) -> None:
        await store.record_stats([_bucket(0, searches=1), _bucket(0, OTHER_CACHE, searches=2)])
        await store.delete_cache(CACHE)
        assert await store.read_stats(CACHE, since=START) == []
        assert len(await store.read_stats(OTHER_CACHE, since=START)) == 1

    async def test_prune_stats_deletes_older_minutes_of_every_cache(
        self, store: Store, caches: object
    ) -> None:
        await store.record_stats([_bucket(m, searches=1) for m in range(4)])
        await store.record_stats([_bucket(0, OTHER_CACHE), _bucket(3, OTHER_CACHE)])
        assert await store.prune_stats(before=START + 2 * MINUTE) == 3
        assert [b.minute for b in await store.read_stats(CACHE, since=0)] == [
            START + 2 * MINUTE,
            START + 3 * MINUTE,
        ]
        assert len(await store.read_stats(OTHER_CACHE, since=0)) == 1

    async def test_list_entries_newest_first(self, store: Store, make_entry: EntryFactory) -> None:
        entries = [make_entry(created_at=NOW - 100 + i) for i in range(5)]
        entries.append(make_entry(cache_id=OTHER_CACHE))
        await asyncio.gather(*(store.put(entry) for entry in entries))
        found = await store.list_entries(CACHE, now=NOW, limit=3)
        assert [e.id for e in found] == [e.id for e in reversed(entries[2:5])]
        assert found[0] == entries[4]

    async def test_list_entries_pages_cover_each_entry_once(
        self, store: Store, make_entry: EntryFactory
    ) -> None:
        # Ties on created_at are ordered by ID, so a cursor never skips or repeats one.
        entries = [make_entry(created_at=NOW - 100 + i // 3) for i in range(11)]
        await asyncio.gather(*(store.put(entry) for entry in entries))
        pages = await _pages(store, 4)
        assert [len(page) for page in pages] == [4, 4, 3]
        listed = [(e.created_at, e.id) for page in pages for e in page]
        assert listed == sorted(((e.created_at, e.id) for e in entries), reverse=True)

    async def test_list_entries_skips_expired(self, store: Store, make_entry: EntryFactory) -> None:
        live, expired = make_entry(expires_at=NOW + HOUR), make_entry(expires_at=NOW)
        await asyncio.gather(store.put(live), store.put(expired))
        assert [e.id for e in await store.list_entries(CACHE, now=NOW, limit=10)] == [live.id]
        assert await store.list_entries(CACHE, now=NOW, limit=0) == []
        assert await store.list_entries("ghost", now=NOW, limit=10) == []
