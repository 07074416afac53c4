"""Small builders shared by the PostgreSQL store tests."""

from __future__ import annotations

from typing import Any, LiteralString

from psycopg import sql

from semcache.store.base import CacheConfig
from semcache.store.postgres import PostgresStore


async def new_store(url: str, **options: Any) -> PostgresStore:
    """A store over ``url`` holding one empty cache, ``c``."""
    store = await PostgresStore.open(url, pool_timeout=60, **options)
    await store.create_cache(CacheConfig(id="c", name="c", embedder="fake", created_at=0))
    return store


async def query(
    store: PostgresStore, statement: LiteralString | sql.Composed, params: Any = None
) -> list[tuple[Any, ...]]:
    """Run one statement on one of the store's connections; its rows, if any."""
    async with store.pool.connection() as connection:
        cursor = await connection.execute(statement, params)
        return await cursor.fetchall() if cursor.description else []


async def hnsw_indexes(store: PostgresStore) -> dict[str, bool]:
    """The store's HNSW indexes by name, and whether each is valid."""
    rows = await query(
        store,
        "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE i.indrelid = 'semcache_entries'::regclass"
        " AND c.relname LIKE 'semcache_entries_hnsw_%'",
    )
    return dict(rows)


async def cache_number(store: PostgresStore, cache_id: str = "c") -> int:
    [(number,)] = await query(store, "SELECT no FROM semcache_caches WHERE id = %s", (cache_id,))
    return int(number)
