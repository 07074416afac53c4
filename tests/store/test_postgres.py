from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from semcache.errors import CacheNotFound, ConfigError, StoreError, StoreUnavailable
from semcache.store._pg_connect import DEFAULT_FILTER_EXACT_LIMIT
from semcache.store._pg_errors import translate
from semcache.store._pg_indexes import HNSW_MAX_DIMENSIONS
from semcache.store._pg_rows import find_exact_sql
from semcache.store._pg_schema import SCHEMA_VERSION
from semcache.store._pg_search import EXACT_IF_FEW, hnsw_sql
from semcache.store.base import CacheConfig, Entry
from semcache.store.postgres import PostgresStore
from semcache.testing._store_factories import CACHE, NOW, OTHER_CACHE
from semcache.testing.postgres import LocalPostgres
from semcache.testing.store_suite import (
    StoreContractTests,
    StoreFixtures,
    VectorFactory,
    cache_config,
)
from semcache.types import CacheId
from tests.store._postgres_helpers import cache_number, hnsw_indexes, new_store, query
from tests.store._sqlite_helpers import DIMENSION, fill, make_entry, top_id, unit_vectors


class PostgresFixtures(StoreFixtures):
    @pytest.fixture
    def store_options(self) -> dict[str, Any]:
        return {}

    @pytest.fixture
    def planner_settings(self) -> dict[str, str]:
        return {}

    @pytest.fixture
    async def store(
        self,
        postgres: LocalPostgres,
        postgres_database: str,
        postgres_schema: str,
        store_options: dict[str, Any],
        planner_settings: dict[str, str],
    ) -> AsyncIterator[PostgresStore]:
        url = postgres.url(postgres_database, schema=postgres_schema, settings=planner_settings)
        store = await PostgresStore.open(url, **store_options)
        yield store
        await store.close()


class TestPostgresStore(PostgresFixtures, StoreContractTests):
    pass


class TestPostgresStoreHNSW(PostgresFixtures, StoreContractTests):
    """The same contract answered through HNSW indexes: each cache's index is built before
    the test, and the planner may neither scan nor sort a table instead."""

    @pytest.fixture
    def store_options(self) -> dict[str, Any]:
        return {"filter_exact_limit": 0}

    @pytest.fixture
    def planner_settings(self) -> dict[str, str]:
        return {"enable_seqscan": "off", "enable_sort": "off"}

    @pytest.fixture
    async def caches(
        self, store: PostgresStore, make_vector: VectorFactory
    ) -> tuple[CacheId, CacheId]:
        for cache_id, created_at in [(CACHE, NOW - 2), (OTHER_CACHE, NOW - 1)]:
            await store.create_cache(cache_config(cache_id, created_at))
            probe = Entry(cache_id, "probe", "probe", "", {}, NOW, vector=make_vector())
            await store.put(probe)
            await store.delete(cache_id, "probe", now=NOW)
        await store.wait_for_indexes()
        return CACHE, OTHER_CACHE

    async def test_searches_here_go_through_the_index(
        self, store: PostgresStore, caches: object, make_vector: VectorFactory
    ) -> None:
        number = await cache_number(store, CACHE)
        parameters = {"q": make_vector(), "now": NOW, "limit": 1, "attributes": Jsonb({})}
        plan = await _plan(store, hnsw_sql(number, 16, filtered=True), parameters)
        assert f"Index Scan using semcache_entries_hnsw_{number}" in plan


pytestmark = pytest.mark.anyio


# schema


async def _schema(store: PostgresStore) -> list[tuple[Any, ...]]:
    columns = await query(
        store,
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema() ORDER BY 1, 2",
    )
    indexes = await query(
        store,
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() ORDER BY 1",
    )
    versions = await query(store, "SELECT version FROM semcache_migrations ORDER BY 1")
    return [*columns, *indexes, *versions]


async def test_migrations_are_recorded_and_reopening_changes_nothing(postgres_url: str) -> None:
    store = await new_store(postgres_url)
    before = await _schema(store)
    await store.close()
    assert before[-1] == (SCHEMA_VERSION,)
    for _ in range(2):
        store = await PostgresStore.open(postgres_url)
        try:
            assert await store.get_cache("c") is not None
            assert await _schema(store) == before
        finally:
            await store.close()


async def test_stores_starting_at_once_migrate_once(postgres_url: str) -> None:
    stores = await asyncio.gather(*(PostgresStore.open(postgres_url) for _ in range(4)))
    try:
        versions = await query(stores[0], "SELECT version FROM semcache_migrations")
        assert sorted(versions) == [(version,) for version in range(1, SCHEMA_VERSION + 1)]
    finally:
        await asyncio.gather(*(store.close() for store in stores))


async def test_database_from_a_newer_version_is_refused(postgres_url: str) -> None:
    store = await new_store(postgres_url)
    await query(store, "INSERT INTO semcache_migrations (version) VALUES (%s)", (999,))
    await store.close()
    with pytest.raises(StoreUnavailable, match="upgrade semcache"):
        await PostgresStore.open(postgres_url)


# indexes and query plans


async def _plan(store: PostgresStore, statement: sql.Composable, params: dict[str, Any]) -> str:
    rows = await query(store, sql.SQL("EXPLAIN ") + statement, params)
    return "\n".join(row[0] for row in rows)


async def test_searches_and_lookups_use_indexes(postgres_url: str) -> None:
    vectors = unit_vectors(3000)
    store = await new_store(postgres_url)
    try:
        await fill(store, vectors, attributes={"group": "0"})
        await fill(store, vectors[:20] * -1, first=3000, attributes={"group": "1"})
        await store.wait_for_indexes()
        await query(store, "ANALYZE semcache_entries")
        number = await cache_number(store)
        parameters = {
            "q": vectors[7],
            "number": number,
            "cache_id": "c",
            "now": NOW,
            "limit": 1,
            "attributes": Jsonb({"group": "1"}),
            "cap": 20_000,
            "key": "prompt 7",
        }
        plan = await _plan(store, hnsw_sql(number, DIMENSION, filtered=False), parameters)
        assert f"Index Scan using semcache_entries_hnsw_{number}" in plan
        plan = await _plan(store, sql.SQL(EXACT_IF_FEW), parameters)
        assert "Bitmap Index Scan on semcache_entries_attributes" in plan, plan
        plan = await _plan(store, sql.SQL(find_exact_sql(True)), parameters)
        assert "Index Scan using semcache_entries_prompt" in plan
        assert "Seq Scan on semcache_entries" not in plan
        assert await top_id(store, vectors[7]) == "e7"
    finally:
        await store.close()


async def test_each_cache_with_vectors_has_one_hnsw_index(postgres_url: str) -> None:
    store = await new_store(postgres_url)
    try:
        await store.create_cache(CacheConfig(id="empty", name="", embedder="fake", created_at=1))
        await fill(store, unit_vectors(5))
        await store.wait_for_indexes()
        first = await cache_number(store)
        assert await hnsw_indexes(store) == {f"semcache_entries_hnsw_{first}": True}
        await store.delete_cache("c")
        await store.wait_for_indexes()
        assert await hnsw_indexes(store) == {}
        await store.create_cache(CacheConfig(id="c", name="c", embedder="fake", created_at=2))
        await fill(store, unit_vectors(5, 8))
        await store.wait_for_indexes()
        second = await cache_number(store)
        assert second != first
        assert await hnsw_indexes(store) == {f"semcache_entries_hnsw_{second}": True}
        assert await top_id(store, unit_vectors(5, 8)[3]) == "e3"
    finally:
        await store.close()


async def test_missing_and_leftover_indexes_are_repaired(postgres_url: str) -> None:
    store = await new_store(postgres_url)
    try:
        await fill(store, unit_vectors(20))
        await store.wait_for_indexes()
        number = await cache_number(store)
        # As if a process stopped before building one index and after deleting a cache.
        await query(store, f"DROP INDEX semcache_entries_hnsw_{number}")
        await query(
            store,
            "CREATE INDEX semcache_entries_hnsw_999 ON semcache_entries"
            " USING hnsw ((embedding::vector(16)) vector_cosine_ops) WHERE cache_no = 999",
        )
        await store.purge_expired(now=NOW)
        await store.wait_for_indexes()
        assert await hnsw_indexes(store) == {f"semcache_entries_hnsw_{number}": True}
    finally:
        await store.close()


async def test_vectors_too_long_for_hnsw_are_searched_exactly(postgres_url: str) -> None:
    vectors = unit_vectors(5, HNSW_MAX_DIMENSIONS + 1)
    store = await new_store(postgres_url)
    try:
        await fill(store, vectors)
        await store.wait_for_indexes()
        assert await hnsw_indexes(store) == {}
        assert await top_id(store, vectors[2]) == "e2"
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("filter_exact_limit", "groups"),
    [(DEFAULT_FILTER_EXACT_LIMIT, 100), (0, 10)],
    ids=["candidates", "hnsw"],
)
async def test_filtered_search_keeps_recall(
    postgres_url: str, filter_exact_limit: int, groups: int
) -> None:
    count, queries = 5_000, 100
    vectors = unit_vectors(count, 32, seed=1)
    group_of = np.random.default_rng(2).integers(0, groups, count)
    store = await new_store(postgres_url, filter_exact_limit=filter_exact_limit)
    try:
        await store.put(make_entry(0, vectors[0], attributes={"group": str(group_of[0])}))
        await store.wait_for_indexes()
        puts = [
            store.put(make_entry(n, vectors[n], attributes={"group": str(group_of[n])}))
            for n in range(1, count)
        ]
        for start in range(0, count, 500):
            await asyncio.gather(*puts[start : start + 500])
        await query(store, "ANALYZE semcache_entries")
        hits = 0
        for number, query_vector in enumerate(unit_vectors(queries, 32, seed=3)):
            group = number % groups
            members = np.flatnonzero(group_of == group)
            truth = f"e{members[np.argmax(vectors[members] @ query_vector)]}"
            found = await store.search(
                "c", query_vector, attributes={"group": str(group)}, now=NOW, limit=1
            )
            hits += bool(found) and found[0].entry.id == truth
        assert hits >= 0.99 * queries
    finally:
        await store.close()


# errors and options


async def test_unreachable_database_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable) as caught:
        await PostgresStore.open(f"postgresql://nobody@/none?host={tmp_path}", pool_timeout=1)
    assert isinstance(caught.value.__cause__, psycopg.OperationalError)


async def test_driver_errors_become_store_errors(postgres_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as connection:
        await connection.execute("SET statement_timeout = 10")
        with pytest.raises(psycopg.Error) as cancelled:
            await connection.execute("SELECT pg_sleep(1)")
        with pytest.raises(psycopg.Error) as wrong:
            await connection.execute("SELECT no_such_column FROM pg_class")
    assert isinstance(translate(cancelled.value), StoreUnavailable)
    assert type(translate(wrong.value)) is StoreError


async def test_wrong_puts_are_refused(postgres_url: str) -> None:
    store = await new_store(postgres_url)
    try:
        with pytest.raises(CacheNotFound):
            await store.put(make_entry(1, unit_vectors(1)[0], cache_id="missing"))
        await store.put(make_entry(1, unit_vectors(1)[0]))
        with pytest.raises(StoreError, match="16-dimensional"):
            await store.put(make_entry(2, unit_vectors(1, 8)[0]))
        with pytest.raises(StoreError, match="dimensions"):
            await top_id(store, unit_vectors(1, 8)[0])
        with pytest.raises(StoreError, match="NUL"):
            await store.put(make_entry(3, unit_vectors(1)[0], prompt="nul \x00 inside"))
        assert await store.count("c", now=NOW) == 1
    finally:
        await store.close()


async def test_closed_store_is_unavailable(postgres_url: str) -> None:
    store = await new_store(postgres_url)
    await store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        await store.get_cache("c")


async def test_options_come_from_the_url(postgres_url: str) -> None:
    store = await PostgresStore.from_url(f"{postgres_url}&pool_max_size=3&hnsw_ef_search=50")
    try:
        assert store.pool.max_size == 3
        [(ef_search,)] = await query(store, "SHOW hnsw.ef_search")
        assert ef_search == "50"
    finally:
        await store.close()
    for bad, message in [("pool_max_size=0", "at least 1"), ("hnsw_m=x", "must be a number")]:
        with pytest.raises(ConfigError, match=message):
            await PostgresStore.from_url(f"{postgres_url}&{bad}")


async def test_any_filter_exact_limit_works(postgres_url: str) -> None:
    vectors = unit_vectors(3)
    store = await new_store(postgres_url, filter_exact_limit=10_000_000)
    try:
        await fill(store, vectors, attributes={"a": "1"})
        [match] = await store.search("c", vectors[1], attributes={"a": "1"}, now=NOW, limit=1)
        assert match.entry.id == "e1"
    finally:
        await store.close()
