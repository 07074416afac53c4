"""Per-minute search statistics and pages of entries, in the PostgreSQL store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, LiteralString

from psycopg import AsyncConnection

from semcache.store._pg_rows import CACHE_NO, ENTRY_COLUMNS, LIVE, entry_from_row
from semcache.store.base import Entry, EntryCursor, StatsBucket
from semcache.types import CacheId, Millis

__all__ = ["add_buckets", "list_entries", "prune_stats", "read_stats"]

Connection = AsyncConnection[Any]

_COLUMNS: LiteralString = (
    "minute, searches, hits, latency_ms_sum, latency_counts, similarity_counts, items"
)


def _sum_of(column: LiteralString) -> LiteralString:
    # Element by element, the shorter array padded with zeros (unnest pads with NULLs).
    return (
        f"{column} = ARRAY(SELECT coalesce(a, 0) + coalesce(b, 0) FROM"
        f" unnest(s.{column}, EXCLUDED.{column}) WITH ORDINALITY AS t (a, b, n) ORDER BY n)"
    )


# FOR KEY SHARE keeps the cache from being deleted before the insert commits; a cache that
# is already gone selects no row, and its bucket is dropped.
_ADD: LiteralString = (
    f"INSERT INTO semcache_stats AS s (cache_no, {_COLUMNS})"
    " SELECT no, %s, %s, %s, %s, %s, %s, %s FROM semcache_caches WHERE id = %s FOR KEY SHARE"
    " ON CONFLICT (cache_no, minute) DO UPDATE SET searches = s.searches + EXCLUDED.searches,"
    " hits = s.hits + EXCLUDED.hits,"
    " latency_ms_sum = s.latency_ms_sum + EXCLUDED.latency_ms_sum,"
    f" {_sum_of('latency_counts')}, {_sum_of('similarity_counts')},"
    " items = greatest(s.items, EXCLUDED.items)"
)


def _bucket_from_row(cache_id: CacheId, row: Sequence[Any]) -> StatsBucket:
    minute, searches, hits, latency_sum, latency, similarity, items = row
    return StatsBucket(
        cache_id=cache_id,
        minute=minute,
        searches=searches,
        hits=hits,
        latency_ms_sum=latency_sum,
        latency_counts=tuple(latency),
        similarity_counts=tuple(similarity),
        items=items,
    )


async def add_buckets(connection: Connection, buckets: Sequence[StatsBucket]) -> None:
    """Add buckets to the stored ones; each addition is atomic (an upsert). Buckets go in
    one order, so that two processes adding the same minutes cannot deadlock."""
    ordered = sorted(buckets, key=lambda bucket: (bucket.cache_id, bucket.minute))
    async with connection.transaction(), connection.cursor() as cursor:
        await cursor.executemany(
            _ADD,
            [
                (
                    bucket.minute,
                    bucket.searches,
                    bucket.hits,
                    bucket.latency_ms_sum,
                    list(bucket.latency_counts),
                    list(bucket.similarity_counts),
                    bucket.items,
                    bucket.cache_id,
                )
                for bucket in ordered
            ],
        )


async def read_stats(connection: Connection, cache_id: CacheId, since: Millis) -> list[StatsBucket]:
    cursor = await connection.execute(
        f"SELECT {_COLUMNS} FROM semcache_stats"
        f" WHERE cache_no = {CACHE_NO} AND minute >= %(since)s ORDER BY minute",
        {"cache_id": cache_id, "since": since},
    )
    return [_bucket_from_row(cache_id, row) for row in await cursor.fetchall()]


async def prune_stats(connection: Connection, before: Millis) -> int:
    cursor = await connection.execute("DELETE FROM semcache_stats WHERE minute < %s", (before,))
    return cursor.rowcount


def list_entries_sql(with_cursor: bool) -> LiteralString:
    """The query behind `list_entries`: parameters cache_id, now, created_at, entry_id,
    limit. IDs compare byte by byte (``COLLATE "C"``), as the index holds them."""
    after = (
        ' AND (e.created_at, e.entry_id COLLATE "C") < (%(created_at)s, %(entry_id)s)'
        if with_cursor
        else ""
    )
    return (
        f"SELECT {ENTRY_COLUMNS} FROM semcache_entries e"
        f" WHERE e.cache_no = {CACHE_NO} AND {LIVE}{after}"
        ' ORDER BY e.created_at DESC, e.entry_id COLLATE "C" DESC LIMIT %(limit)s'
    )


async def list_entries(
    connection: Connection,
    cache_id: CacheId,
    now: Millis,
    limit: int,
    after: EntryCursor | None,
) -> list[Entry]:
    """A page through the ``(cache_no, created_at, entry_id)`` index, walked backwards."""
    cursor = await connection.execute(
        list_entries_sql(after is not None),
        {
            "cache_id": cache_id,
            "now": now,
            "created_at": after[0] if after else None,
            "entry_id": after[1] if after else None,
            "limit": limit,
        },
    )
    return [entry_from_row(cache_id, row) for row in await cursor.fetchall()]
