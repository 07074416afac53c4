from __future__ import annotations

import asyncio

import pytest
from psycopg import sql

from semcache.store._pg_stats import list_entries_sql
from semcache.store.base import StatsBucket
from tests.store._postgres_helpers import new_store, query
from tests.store._sqlite_helpers import NOW, fill, unit_vectors

pytestmark = pytest.mark.anyio


async def test_pages_of_entries_walk_an_index(postgres_url: str) -> None:
    store = await new_store(postgres_url)
    try:
        await fill(store, unit_vectors(2000))
        await query(store, "ANALYZE semcache_entries")
        parameters = {
            "cache_id": "c",
            "now": NOW,
            "created_at": NOW,
            "entry_id": "x",
            "limit": 50,
        }
        for with_cursor in (False, True):
            statement = sql.SQL("EXPLAIN ") + sql.SQL(list_entries_sql(with_cursor))
            plan = "\n".join(row[0] for row in await query(store, statement, parameters))
            assert "Index Scan Backward using semcache_entries_listing" in plan, plan
            assert "Sort" not in plan, plan
    finally:
        await store.close()


async def test_two_replicas_adding_to_one_minute_lose_nothing(postgres_url: str) -> None:
    first, second = await new_store(postgres_url), await new_store(postgres_url)
    one = StatsBucket("c", NOW - NOW % 60_000, searches=1, latency_counts=(0, 1))
    try:
        await asyncio.gather(
            *(store.record_stats([one]) for store in (first, second) for _ in range(20))
        )
        [total] = await first.read_stats("c", since=0)
        assert (total.searches, total.latency_counts) == (40, (0, 40))
    finally:
        await first.close()
        await second.close()
