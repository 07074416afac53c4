"""The embedded store: SQLite in WAL mode, with an in-memory vector index per cache."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import unquote

from semcache.errors import ConfigError, StoreError, StoreUnavailable
from semcache.store import _sqlite_rows as rows
from semcache.store import _sqlite_stats as stats
from semcache.store import _sqlite_vectors as vectors
from semcache.store._sqlite_auth import AuthCache, read_versioned
from semcache.store._sqlite_executor import SQLiteExecutor, WriteStats, translate
from semcache.store._sqlite_index import (
    DEFAULT_HNSW_THRESHOLD,
    DEFAULT_LOG_RETENTION,
    DEFAULT_SNAPSHOT_EVERY,
    CacheIndexes,
    IndexOptions,
    IndexStats,
)
from semcache.store._sqlite_inline import InlineReader
from semcache.store._sqlite_schema import DATABASE_NAME, connect, migrate
from semcache.store._sqlite_search import (
    DEFAULT_FILTER_EXACT_LIMIT,
    SearchRequest,
    search,
    unit_vector,
)
from semcache.store.base import CacheConfig, Entry, EntryCursor, KeyRecord, Match, StatsBucket
from semcache.store.vector_index import DEFAULT_EF_SEARCH
from semcache.types import Attributes, CacheId, EntryId, Millis, Vector

if TYPE_CHECKING:
    from semcache.store.base import Store

__all__ = [
    "DEFAULT_BUSY_TIMEOUT",
    "DEFAULT_EF_SEARCH",
    "DEFAULT_FILTER_EXACT_LIMIT",
    "DEFAULT_HNSW_THRESHOLD",
    "DEFAULT_LOG_RETENTION",
    "DEFAULT_READERS",
    "DEFAULT_SNAPSHOT_EVERY",
    "IndexStats",
    "SQLiteStore",
    "WriteStats",
]

T = TypeVar("T")

DEFAULT_READERS = 4
DEFAULT_BUSY_TIMEOUT = 5.0
_PURGE_BATCH = 1_000
_PRUNE_BATCH = 50_000


class SQLiteStore:
    """A `Store` in one directory: ``semcache.db`` (SQLite, WAL) holds everything durable;
    ``index/`` holds saved HNSW indexes, which can always be rebuilt from the database.

    Several processes may open the same directory at once: each catches up with the
    database's change log before searching, so none ever answers from stale data.

    Example::

        store = await SQLiteStore.open(Path("/var/lib/semcache"))
        try:
            await store.put(entry)
        finally:
            await store.close()
    """

    def __init__(
        self,
        directory: Path,
        executor: SQLiteExecutor,
        indexes: CacheIndexes,
        *,
        filter_exact_limit: int,
        log_retention: int,
    ) -> None:
        self.directory = directory
        self._executor = executor
        self._indexes = indexes
        self._filter_exact_limit = filter_exact_limit
        self._log_retention = log_retention
        self._inline = InlineReader(
            lambda: connect(directory / DATABASE_NAME, busy_timeout=0, query_only=True)
        )
        self._auth = AuthCache(self._inline)
        self._closed = False

    @classmethod
    async def open(
        cls,
        directory: Path | str,
        *,
        hnsw_threshold: int = DEFAULT_HNSW_THRESHOLD,
        filter_exact_limit: int = DEFAULT_FILTER_EXACT_LIMIT,
        snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
        log_retention: int = DEFAULT_LOG_RETENTION,
        hnsw_ef_search: int = DEFAULT_EF_SEARCH,
        readers: int = DEFAULT_READERS,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        preload: bool = True,
    ) -> SQLiteStore:
        """Open (creating if need be) the store in ``directory``.

        Args:
            hnsw_threshold: a cache with more vectors than this is searched with HNSW.
            filter_exact_limit: most entries an attribute filter may match to be answered
                by exact search over just those entries (fewer are, when oversampling
                HNSW is cheaper).
            snapshot_every: save an HNSW index after this many changes (and at close).
            log_retention: changes kept in the log beyond what snapshots need.
            hnsw_ef_search: candidates HNSW keeps while searching (recall against time).
            readers: threads (and connections) serving reads.
            busy_timeout: seconds to wait for another process's write lock.
            preload: load the indexes of large caches in the background now, not at
                their first search.

        Raises:
            ConfigError: an option is out of range.
            StoreUnavailable: the directory or database cannot be opened.
        """
        _check_options(
            hnsw_threshold=hnsw_threshold,
            filter_exact_limit=filter_exact_limit,
            snapshot_every=snapshot_every,
            log_retention=log_retention,
            hnsw_ef_search=hnsw_ef_search,
            readers=readers,
            busy_timeout=busy_timeout,
        )
        options = IndexOptions(
            hnsw_threshold=hnsw_threshold,
            snapshot_every=snapshot_every,
            log_retention=log_retention,
            ef_search=hnsw_ef_search,
        )
        path = Path(directory)
        loop = asyncio.get_running_loop()
        executor = await loop.run_in_executor(None, _start, path, readers, busy_timeout)
        indexes = CacheIndexes(path / "index", options, executor)
        store = cls(
            path,
            executor,
            indexes,
            filter_exact_limit=filter_exact_limit,
            log_retention=log_retention,
        )
        if preload:
            try:
                large = await store._read(lambda c: _large_caches(c, hnsw_threshold))
            except BaseException:
                await store.close()
                raise
            # Started once the opener yields to the event loop, so a store opened only for
            # a moment (a CLI command) is closed before it reads gigabytes of index.
            loop.call_soon(store._preload, large)
        return store

    @classmethod
    async def from_url(cls, url: str, *, preload: bool = True) -> SQLiteStore:
        """Open the store a ``sqlite:///absolute/dir`` or ``sqlite://relative/dir`` URL names."""
        scheme, separator, rest = url.partition("://")
        if not separator or scheme.lower() != "sqlite" or not rest or "?" in rest:
            raise ConfigError(
                f"store URL {url!r} is not sqlite:///absolute/dir or sqlite://relative/dir"
            )
        return await cls.open(Path(unquote(rest)), preload=preload)

    # caches

    async def create_cache(self, config: CacheConfig, *, if_no_caches: bool = False) -> bool:
        return await self._write(lambda c: rows.create_cache(c, config, if_no_caches))

    async def get_cache(self, cache_id: CacheId) -> CacheConfig | None:
        held = self._auth.get("cache", cache_id)
        if isinstance(held, CacheConfig):
            return held
        cache, version = await self._read(
            lambda c: read_versioned(c, lambda c: rows.get_cache(c, cache_id))
        )
        if cache is not None:
            self._auth.put("cache", cache_id, cache, version)
        return cache

    async def list_caches(self) -> list[CacheConfig]:
        return await self._read(rows.list_caches)

    async def delete_cache(self, cache_id: CacheId) -> bool:
        deleted = await self._write(lambda c: rows.delete_cache(c, cache_id))
        if deleted:
            await self._read(lambda _: self._indexes.forget(cache_id))
        return deleted

    # keys

    async def put_key(self, key: KeyRecord) -> None:
        await self._write(lambda c: rows.put_key(c, key))

    async def get_key(self, key_id: str) -> KeyRecord | None:
        held = self._auth.get("key", key_id)
        if isinstance(held, KeyRecord):
            return held
        key, version = await self._read(
            lambda c: read_versioned(c, lambda c: rows.get_key(c, key_id))
        )
        if key is not None:
            self._auth.put("key", key_id, key, version)
        return key

    async def list_keys(self, cache_id: CacheId | None = None) -> list[KeyRecord]:
        return await self._read(lambda c: rows.list_keys(c, cache_id))

    async def revoke_key(self, key_id: str, *, at: Millis) -> bool:
        return await self._write(lambda c: rows.revoke_key(c, key_id, at))

    # entries

    async def put(self, entry: Entry) -> None:
        if entry.vector is None:
            raise StoreError(f"entry {entry.id!r} has no vector; put needs one")
        vector = unit_vector(entry.vector)
        blob = vector.astype("<f4").tobytes()
        await self._write_entries(
            entry.cache_id, lambda c: rows.put_entry(c, entry, blob, len(vector))
        )

    async def get(self, cache_id: CacheId, entry_id: EntryId, *, now: Millis) -> Entry | None:
        return await self._read(lambda c: rows.get_entry(c, cache_id, entry_id, now))

    async def find_exact(
        self, cache_id: CacheId, prompt: str, *, attributes: Attributes, now: Millis, limit: int
    ) -> list[Entry]:
        if limit <= 0:
            return []

        def find(connection: sqlite3.Connection) -> list[Entry]:
            return rows.find_exact(connection, cache_id, prompt, attributes, now, limit)

        # One index lookup: far quicker here than a trip to a reader thread, which under
        # load waits for the interpreter lock (1.7x the exact-only searches a second).
        found = self._inline.try_read(find)
        return found if found is not None else await self._read(find)

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
        return await self._read(
            lambda c: search(c, self._indexes, request, filter_exact_limit=self._filter_exact_limit)
        )

    async def delete(self, cache_id: CacheId, entry_id: EntryId, *, now: Millis) -> bool:
        return await self._write_entries(
            cache_id, lambda c: rows.delete_entry(c, cache_id, entry_id, now)
        )

    async def delete_matching(
        self, cache_id: CacheId, attributes: Attributes, *, now: Millis
    ) -> int:
        if not attributes:
            raise ValueError("delete_matching needs at least one attribute")
        return await self._write_entries(
            cache_id, lambda c: rows.delete_matching(c, cache_id, attributes, now)
        )

    async def clear(self, cache_id: CacheId) -> int:
        cleared = await self._write(lambda c: rows.clear_cache(c, cache_id))
        await self._read(lambda _: self._indexes.forget(cache_id))
        return cleared

    async def count(self, cache_id: CacheId, *, now: Millis) -> int:
        return await self._read(lambda c: rows.count_live(c, cache_id, now))

    async def list_entries(
        self, cache_id: CacheId, *, now: Millis, limit: int, after: EntryCursor | None = None
    ) -> list[Entry]:
        if limit <= 0:
            return []
        return await self._read(lambda c: stats.list_entries(c, cache_id, now, limit, after))

    async def purge_expired(self, *, now: Millis, limit: int = 10_000) -> int:
        """Delete expired entries in transactions of at most 1,000, so that other writes
        wait little; then prune the change log."""
        purged = 0
        while purged < limit:
            batch = min(_PURGE_BATCH, limit - purged)
            done = await self._write(partial(rows.purge_expired_batch, now=now, batch=batch))
            purged += done
            if done < batch:
                break
        await self._write(
            lambda c: vectors.prune_changes(c, keep=self._log_retention, batch=_PRUNE_BATCH)
        )
        return purged

    # statistics

    async def record_stats(self, buckets: Sequence[StatsBucket]) -> None:
        if buckets:
            await self._write(lambda c: stats.add_buckets(c, buckets))

    async def read_stats(self, cache_id: CacheId, *, since: Millis) -> list[StatsBucket]:
        return await self._read(lambda c: stats.read_stats(c, cache_id, since))

    async def prune_stats(self, *, before: Millis) -> int:
        return await self._write(lambda c: stats.prune_stats(c, before))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._close_blocking)

    # beyond the protocol

    def _preload(self, cache_ids: list[CacheId]) -> None:
        if not self._closed:
            self._indexes.preload(cache_ids)

    def index_stats(self, cache_id: CacheId) -> IndexStats | None:
        """How this process's vector index of the cache was built, or None if not loaded."""
        return self._indexes.stats(cache_id)

    @property
    def write_stats(self) -> WriteStats:
        """Writes and commits so far: group commit makes commits fewer than writes."""
        return self._executor.stats

    @property
    def database_path(self) -> Path:
        return self.directory / DATABASE_NAME

    def _close_blocking(self) -> None:
        try:
            self._indexes.close()
        finally:
            self._inline.close()
            self._executor.close()

    async def _read(self, job: Callable[[sqlite3.Connection], T]) -> T:
        self._check_open()
        return await self._executor.read(job)

    async def _write(self, job: Callable[[sqlite3.Connection], T]) -> T:
        self._check_open()
        return await self._executor.write(job)

    async def _write_entries(self, cache_id: CacheId, job: Callable[[sqlite3.Connection], T]) -> T:
        """`_write` a change to the cache's entries, which its index then takes in."""
        written = await self._write(job)
        self._indexes.written(cache_id)
        return written

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable(f"the store in {self.directory} is closed")


def _check_options(**options: float) -> None:
    for name, value in options.items():
        minimum = 1 if name in ("readers", "hnsw_ef_search") else 0
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, got {value}")


def _start(directory: Path, readers: int, busy_timeout: float) -> SQLiteExecutor:
    database = directory / DATABASE_NAME
    try:
        directory.mkdir(parents=True, exist_ok=True)
        setup = connect(database, busy_timeout=busy_timeout)
        try:
            migrate(setup)
        finally:
            setup.close()
        return SQLiteExecutor(
            lambda query_only: connect(database, busy_timeout=busy_timeout, query_only=query_only),
            readers=readers,
        )
    except OSError as exc:
        raise StoreUnavailable(f"cannot open the store in {directory}: {exc}") from exc
    except sqlite3.Error as exc:
        error = translate(exc)
        raise StoreUnavailable(f"cannot open the store in {directory}: {error}") from exc


def _large_caches(connection: sqlite3.Connection, hnsw_threshold: int) -> list[CacheId]:
    """Caches searched with HNSW, whose indexes take long enough to load that it is best
    done before the first search asks."""
    rows = connection.execute(
        "SELECT cache_id FROM snapshots UNION"
        " SELECT cache_id FROM entries GROUP BY cache_id HAVING count(*) > ?",
        (hnsw_threshold,),
    )
    return [cache_id for (cache_id,) in rows]


if TYPE_CHECKING:

    def _conforms(store: SQLiteStore) -> Store:
        return store
