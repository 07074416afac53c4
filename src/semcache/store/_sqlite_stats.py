"""Per-minute search statistics and pages of entries, in the SQLite store."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from itertools import zip_longest
from typing import Any

from semcache.store._sqlite_rows import ENTRY_COLUMNS, LIVE, entry_from_row
from semcache.store.base import Entry, EntryCursor, StatsBucket
from semcache.types import CacheId, Millis

__all__ = ["add_buckets", "list_entries", "merge_buckets", "prune_stats", "read_stats"]

_COLUMNS = (
    "cache_id, minute, searches, hits, latency_ms_sum, latency_counts, similarity_counts, items"
)


def merge_buckets(old: StatsBucket, new: StatsBucket) -> StatsBucket:
    """The sum of two buckets of one cache and minute (``items``: the larger sample)."""
    items = [n for n in (old.items, new.items) if n is not None]
    return StatsBucket(
        cache_id=old.cache_id,
        minute=old.minute,
        searches=old.searches + new.searches,
        hits=old.hits + new.hits,
        latency_ms_sum=old.latency_ms_sum + new.latency_ms_sum,
        latency_counts=_add(old.latency_counts, new.latency_counts),
        similarity_counts=_add(old.similarity_counts, new.similarity_counts),
        items=max(items) if items else None,
    )


def _add(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(x + y for x, y in zip_longest(a, b, fillvalue=0))


def _bucket_from_row(row: Sequence[Any]) -> StatsBucket:
    cache_id, minute, searches, hits, latency_sum, latency, similarity, items = row
    return StatsBucket(
        cache_id=cache_id,
        minute=minute,
        searches=searches,
        hits=hits,
        latency_ms_sum=latency_sum,
        latency_counts=tuple(json.loads(latency)),
        similarity_counts=tuple(json.loads(similarity)),
        items=items,
    )


def add_buckets(connection: sqlite3.Connection, buckets: Sequence[StatsBucket]) -> None:
    """Add buckets to the stored ones. The writer's transaction makes each read-and-add
    one step for every process."""
    for bucket in buckets:
        stored = connection.execute(
            f"SELECT {_COLUMNS} FROM stats WHERE cache_id = ? AND minute = ?",
            (bucket.cache_id, bucket.minute),
        ).fetchone()
        total = bucket if stored is None else merge_buckets(_bucket_from_row(stored), bucket)
        connection.execute(
            f"INSERT OR REPLACE INTO stats ({_COLUMNS})"
            " SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM caches WHERE id = ?)",
            (
                total.cache_id,
                total.minute,
                total.searches,
                total.hits,
                total.latency_ms_sum,
                json.dumps(total.latency_counts),
                json.dumps(total.similarity_counts),
                total.items,
                total.cache_id,
            ),
        )


def read_stats(
    connection: sqlite3.Connection, cache_id: CacheId, since: Millis
) -> list[StatsBucket]:
    rows = connection.execute(
        f"SELECT {_COLUMNS} FROM stats WHERE cache_id = ? AND minute >= ? ORDER BY minute",
        (cache_id, since),
    )
    return [_bucket_from_row(row) for row in rows]


def prune_stats(connection: sqlite3.Connection, before: Millis) -> int:
    return connection.execute("DELETE FROM stats WHERE minute < ?", (before,)).rowcount


def list_entries(
    connection: sqlite3.Connection,
    cache_id: CacheId,
    now: Millis,
    limit: int,
    after: EntryCursor | None,
) -> list[Entry]:
    """A page through the ``(cache_id, created_at, entry_id)`` index, walked backwards."""
    # `created_at IS NOT NULL` is the partial index's condition: it lets the planner use it.
    where, args = f"cache_id = ? AND created_at IS NOT NULL AND {LIVE}", [cache_id, now]
    if after is not None:
        where += " AND (created_at, entry_id) < (?, ?)"
        args += [after[0], after[1]]
    rows = connection.execute(
        f"SELECT {ENTRY_COLUMNS} FROM entries WHERE {where}"
        " ORDER BY created_at DESC, entry_id DESC LIMIT ?",
        (*args, limit),
    )
    return [entry_from_row(row) for row in rows]
