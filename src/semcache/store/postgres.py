"""The store for several replicas: PostgreSQL with pgvector, through a connection pool."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
from psycopg import AsyncConnection
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool

from semcache.errors import CacheNotFound, StoreError, StoreUnavailable
from semcache.store import _pg_rows as rows
from semcache.store import _pg_stats as stats
from semcache.store._pg_connect import (
    DEFAULT_FILTER_EXACT_LIMIT,
    DEFAULT_HNSW_EF_CONSTRUCTION,
    DEFAULT_HNSW_EF_SEARCH,
    DEFAULT_HNSW_M,
    DEFAULT_POOL_MAX_SIZE,
    DEFAULT_POOL_MIN_SIZE,
    DEFAULT_POOL_TIMEOUT,
    PostgresOptions,
    Server,
    inspect_server,
    open_pool,
    split_url,
)
from semcache.store._pg_errors import translate, translated
from semcache.store._pg_indexes import HNSWIndexes
from semcache.store._pg_schema import SchemaTooNew, migrate
from semcache.store._pg_search import SearchRequest, SearchTuning, search, unit_vector
from semcache.store.base import CacheConfig, Entry, EntryCursor, KeyRecord, Match, StatsBucket
from semcache.types import Attributes, CacheId, EntryId, Millis, Vector

if TYPE_CHECKING:
    from semcache.store.base import Store

__all__ = ["PostgresOptions", "PostgresStore"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
Connection = AsyncConnection[Any]

_PURGE_BATCH = 1_000
_CLOSE_TIMEOUT = 5.0


class PostgresStore:
    """A `Store` in a PostgreSQL database with the pgvector extension.

    It keeps nothing between calls but its connection pool, so any number of processes,
    on any number of machines, may share one database: each sees the others' writes at
    once. Tables are created and migrated on open.

    Example::

        store = await PostgresStore.open("postgresql://semcache@db.internal/semcache")
        try:
            await store.put(entry)
        finally:
            await store.close()
    """

    def __init__(
        self,
        pool: AsyncConnectionPool[Connection],
        server: Server,
        options: PostgresOptions,
        indexes: HNSWIndexes,
    ) -> None:
        self._pool = pool
        self._server = server
        self._options = options
        self._indexes = indexes
        self._tuning = SearchTuning(
            ef_search=options.hnsw_ef_search,
            filter_exact_limit=options.filter_exact_limit,
            iterative_scan=server.has_iterative_scan,
        )
        self._closed = False

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        pool_min_size: int = DEFAULT_POOL_MIN_SIZE,
        pool_max_size: int = DEFAULT_POOL_MAX_SIZE,
        pool_timeout: float = DEFAULT_POOL_TIMEOUT,
        hnsw_ef_search: int = DEFAULT_HNSW_EF_SEARCH,
        filter_exact_limit: int = DEFAULT_FILTER_EXACT_LIMIT,
        hnsw_m: int = DEFAULT_HNSW_M,
        hnsw_ef_construction: int = DEFAULT_HNSW_EF_CONSTRUCTION,
    ) -> PostgresStore:
        """Connect to the database ``url`` names (a libpq URL), migrate it and open a pool.

        Args:
            pool_min_size: connections kept open.
            pool_max_size: most connections this process opens.
            pool_timeout: seconds a call waits for a free connection before failing.
            hnsw_ef_search: candidates an HNSW search keeps (recall against time).
            filter_exact_limit: most entries an attribute filter may match to be answered
                exactly over just those entries; beyond it, the HNSW index is used.
            hnsw_m: links per node of HNSW indexes built from now on.
            hnsw_ef_construction: candidates kept while building HNSW indexes.

        Raises:
            ConfigError: an option is out of range.
            StoreUnavailable: the database cannot be reached, lacks pgvector, or was
                migrated by a newer semcache.
        """
        options = PostgresOptions(
            pool_min_size=pool_min_size,
            pool_max_size=pool_max_size,
            pool_timeout=pool_timeout,
            hnsw_ef_search=hnsw_ef_search,
            filter_exact_limit=filter_exact_limit,
            hnsw_m=hnsw_m,
            hnsw_ef_construction=hnsw_ef_construction,
        )
        server = await _prepare(url, options.pool_timeout)
        async with translated():
            pool = await open_pool(url, server, options)
        indexes = HNSWIndexes(url, m=options.hnsw_m, ef_construction=options.hnsw_ef_construction)
        store = cls(pool, server, options, indexes)
        indexes.reconcile()
        return store

    @classmethod
    async def from_url(cls, url: str, *, preload: bool = True) -> PostgresStore:
        """Open the store a ``postgresql://`` URL names; `PostgresOptions` fields may be
        given as query parameters (``?pool_max_size=20&hnsw_ef_search=200``). ``preload``
        changes nothing: the indexes live in PostgreSQL."""
        conninfo, options = split_url(url)
        return await cls.open(conninfo, **options)

    # caches

    async def create_cache(self, config: CacheConfig, *, if_no_caches: bool = False) -> bool:
        return await self._run(lambda c: rows.create_cache(c, config, if_no_caches))

    async def get_cache(self, cache_id: CacheId) -> CacheConfig | None:
        return await self._run(lambda c: rows.get_cache(c, cache_id))

    async def list_caches(self) -> list[CacheConfig]:
        return await self._run(rows.list_caches)

    async def delete_cache(self, cache_id: CacheId) -> bool:
        number = await self._run(lambda c: rows.delete_cache(c, cache_id))
        if number is None:
            return False
        self._indexes.reconcile()
        return True

    # keys

    async def put_key(self, key: KeyRecord) -> None:
        await self._run(lambda c: rows.put_key(c, key))

    async def get_key(self, key_id: str) -> KeyRecord | None:
        return await self._run(lambda c: rows.get_key(c, key_id))

    async def list_keys(self, cache_id: CacheId | None = None) -> list[KeyRecord]:
        return await self._run(lambda c: rows.list_keys(c, cache_id))

    async def revoke_key(self, key_id: str, *, at: Millis) -> bool:
        return await self._run(lambda c: rows.revoke_key(c, key_id, at))

    # entries

    async def put(self, entry: Entry) -> None:
        if entry.vector is None:
            raise StoreError(f"entry {entry.id!r} has no vector; put needs one")
        vector = unit_vector(entry.vector)
        try:
            if await self._run(lambda c: rows.put_entry(c, entry, vector)):
                return
            fixed = await self._run(lambda c: rows.put_first_entry(c, entry, vector))
        except StoreError as exc:
            if isinstance(exc.__cause__, pg_errors.ForeignKeyViolation):
                raise CacheNotFound(entry.cache_id) from exc.__cause__
            raise
        if fixed is not None:
            self._indexes.reconcile()

    async def get(self, cache_id: CacheId, entry_id: EntryId, *, now: Millis) -> Entry | None:
        return await self._run(lambda c: rows.get_entry(c, cache_id, entry_id, now))

    async def find_exact(
        self, cache_id: CacheId, prompt: str, *, attributes: Attributes, now: Millis, limit: int
    ) -> list[Entry]:
        if limit <= 0:
            return []
        return await self._run(
            lambda c: rows.find_exact(c, cache_id, prompt, attributes, now, limit)
        )

    async def search(
        self,
        cache_id: CacheId,
        vector: Vector,
        *,
        attributes: Attributes,
        now: Millis,
        limit: int,
    ) -> list[Match]:
        request = SearchRequest(cache_id, vector, attributes, now, limit)
        return await self._run(lambda c: search(c, request, self._tuning))

    async def delete(self, cache_id: CacheId, entry_id: EntryId, *, now: Millis) -> bool:
        return await self._run(lambda c: rows.delete_entry(c, cache_id, entry_id, now))

    async def delete_matching(
        self, cache_id: CacheId, attributes: Attributes, *, now: Millis
    ) -> int:
        if not attributes:
            raise ValueError("delete_matching needs at least one attribute")
        return await self._run(lambda c: rows.delete_matching(c, cache_id, attributes, now))

    async def clear(self, cache_id: CacheId) -> int:
        return await self._run(lambda c: rows.clear_cache(c, cache_id))

    async def count(self, cache_id: CacheId, *, now: Millis) -> int:
        return await self._run(lambda c: rows.count_live(c, cache_id, now))

    async def list_entries(
        self, cache_id: CacheId, *, now: Millis, limit: int, after: EntryCursor | None = None
    ) -> list[Entry]:
        if limit <= 0:
            return []
        return await self._run(lambda c: stats.list_entries(c, cache_id, now, limit, after))

    async def purge_expired(self, *, now: Millis, limit: int = 10_000) -> int:
        """Delete expired entries in transactions of at most 1,000; also repair the HNSW
        indexes if a process stopped before building or dropping one."""
        purged = 0
        while purged < limit:
            batch = min(_PURGE_BATCH, limit - purged)
            done = await self._run(partial(rows.purge_expired_batch, now=now, batch=batch))
            purged += done
            if done < batch:
                break
        self._indexes.reconcile()
        return purged

    # statistics

    async def record_stats(self, buckets: Sequence[StatsBucket]) -> None:
        if buckets:
            await self._run(lambda c: stats.add_buckets(c, buckets))

    async def read_stats(self, cache_id: CacheId, *, since: Millis) -> list[StatsBucket]:
        return await self._run(lambda c: stats.read_stats(c, cache_id, since))

    async def prune_stats(self, *, before: Millis) -> int:
        return await self._run(lambda c: stats.prune_stats(c, before))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._indexes.close(_CLOSE_TIMEOUT)
        finally:
            await self._pool.close()

    # beyond the protocol

    async def wait_for_indexes(self) -> None:
        """Wait until the HNSW indexes asked for so far are built (or have failed)."""
        await self._indexes.settle()

    @property
    def pool(self) -> AsyncConnectionPool[Connection]:
        """The connection pool, e.g. for ``pool.get_stats()``."""
        return self._pool

    async def _run(self, job: Callable[[Connection], Awaitable[T]]) -> T:
        async with self._connection() as connection:
            return await job(connection)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        if self._closed:
            raise StoreUnavailable("the PostgreSQL store is closed")
        async with translated(), self._pool.connection() as connection:
            yield connection


async def _prepare(url: str, timeout: float) -> Server:
    """Migrate the database and learn what the pool's connections need to know."""
    try:
        connection = await AsyncConnection.connect(
            url, autocommit=True, connect_timeout=max(int(timeout), 2)
        )
    except psycopg.Error as exc:
        raise StoreUnavailable(f"cannot connect to the PostgreSQL store: {exc}") from exc
    try:
        await migrate(connection)
        return await inspect_server(connection)
    except SchemaTooNew as exc:
        raise StoreUnavailable(str(exc)) from exc
    except psycopg.Error as exc:
        error = translate(exc)
        raise StoreUnavailable(f"cannot prepare the PostgreSQL store: {error}") from exc
    finally:
        await connection.close()


if TYPE_CHECKING:

    def _conforms(store: PostgresStore) -> Store:
        return store
