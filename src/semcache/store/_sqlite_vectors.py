from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from semcache.store._sqlite_rows import ENTRY_COLUMNS, LIVE, attribute_filter_sql, entry_from_row
from semcache.store.base import Entry, matches_attributes
from semcache.store.vector_index import Labels
from semcache.types import Attributes, CacheId, Millis, Vectors

__all__ = [
    "Change",
    "cache_dimension",
    "candidate_count",
    "candidate_ids",
    "candidate_vectors",
    "changes_since",
    "count_rows",
    "decode_vectors",
    "entries_by_row",
    "iter_vectors",
    "last_seq",
    "prune_changes",
    "pruned_through",
    "record_snapshot",
    "rows_by_id_sql",
    "rows_carrying",
    "vectors_of",
]

_CHUNK = 500
"""Row ids per ``IN (...)`` list, well under SQLite's limit on bound parameters."""


@dataclass(frozen=True, slots=True)
class Change:
    seq: int
    entry: int | None
    op: Literal["put", "delete", "clear"]


def decode_vectors(blobs: Sequence[bytes], dimension: int) -> Vectors:
    """Stack little-endian float32 blobs into a ``(len(blobs), dimension)`` matrix."""
    flat = np.frombuffer(b"".join(blobs), dtype="<f4")
    return flat.reshape(len(blobs), dimension).astype(np.float32, copy=False)


def _in_chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _marks(count: int) -> str:
    return ",".join("?" * count)


def cache_dimension(connection: sqlite3.Connection, cache_id: CacheId) -> int | None:
    """The cache's vector dimension, or None when it holds no vector (or does not exist)."""
    row = connection.execute("SELECT dimension FROM caches WHERE id = ?", (cache_id,)).fetchone()
    return None if row is None else row[0]


def last_seq(connection: sqlite3.Connection) -> int:
    """The newest change seq ever written (pruning does not lower it)."""
    row = connection.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
    return 0 if row is None else int(row[0])


def pruned_through(connection: sqlite3.Connection) -> int:
    """Changes up to this seq may be gone from the log."""
    row = connection.execute("SELECT value FROM meta WHERE name = 'pruned_through'").fetchone()
    return int(row[0])


def changes_since(connection: sqlite3.Connection, cache_id: CacheId, seq: int) -> list[Change]:
    rows = connection.execute(
        "SELECT seq, entry, op FROM changes WHERE cache_id = ? AND seq > ? ORDER BY seq",
        (cache_id, seq),
    )
    return [Change(*row) for row in rows]


def count_rows(connection: sqlite3.Connection, cache_id: CacheId) -> int:
    """Rows of the cache, expired or not: what its vector index should hold."""
    row = connection.execute("SELECT count(*) FROM entries WHERE cache_id = ?", (cache_id,))
    return int(row.fetchone()[0])


def vectors_of(
    connection: sqlite3.Connection, row_ids: Sequence[int], dimension: int
) -> tuple[Labels, Vectors]:
    """The vectors of those rows that still exist."""
    found: list[int] = []
    blobs: list[bytes] = []
    for chunk in _in_chunks(row_ids):
        rows = connection.execute(
            f"SELECT id, vector FROM entries WHERE id IN ({_marks(len(chunk))})", chunk
        )
        for row_id, blob in rows:
            found.append(row_id)
            blobs.append(blob)
    return np.array(found, dtype=np.int64), decode_vectors(blobs, dimension)


def iter_vectors(
    connection: sqlite3.Connection, cache_id: CacheId, dimension: int, *, chunk: int = 20_000
) -> Iterator[tuple[Labels, Vectors]]:
    """Every vector of the cache, in chunks, by ascending row id."""
    after = 0
    while True:
        rows = connection.execute(
            "SELECT id, vector FROM entries WHERE cache_id = ? AND id > ? ORDER BY id LIMIT ?",
            (cache_id, after, chunk),
        ).fetchall()
        if not rows:
            return
        after = rows[-1][0]
        yield (
            np.array([row_id for row_id, _ in rows], dtype=np.int64),
            decode_vectors([blob for _, blob in rows], dimension),
        )


def candidate_count(
    connection: sqlite3.Connection, cache_id: CacheId, attributes: Attributes
) -> int:
    """An upper bound on the entries carrying every attribute: the rarest one's count."""
    counts = [
        connection.execute(
            "SELECT count(*) FROM entry_attributes WHERE cache_id = ? AND name = ? AND value = ?",
            (cache_id, name, value),
        ).fetchone()[0]
        for name, value in attributes.items()
    ]
    return int(min(counts))


def candidate_ids(
    connection: sqlite3.Connection, cache_id: CacheId, attributes: Attributes
) -> Labels:
    """Row ids of the cache's entries carrying every attribute, live or not."""
    candidates, arguments = attribute_filter_sql(cache_id, attributes)
    rows = connection.execute(candidates, arguments)
    return np.fromiter((row_id for (row_id,) in rows), dtype=np.int64)


def candidate_vectors(
    connection: sqlite3.Connection,
    cache_id: CacheId,
    attributes: Attributes,
    now: Millis,
    dimension: int,
) -> tuple[Labels, Vectors]:
    """Row ids and vectors of the live entries carrying every attribute."""
    candidates, arguments = attribute_filter_sql(cache_id, attributes)
    rows = connection.execute(
        f"SELECT id, vector FROM entries WHERE id IN ({candidates}) AND {LIVE}",
        [*arguments, now],
    ).fetchall()
    labels = np.array([row_id for row_id, _ in rows], dtype=np.int64)
    return labels, decode_vectors([blob for _, blob in rows], dimension)


def rows_by_id_sql(columns: str, count: int) -> str:
    """Select ``columns`` of the live rows of a cache among ``count`` row ids: parameters
    are the ids, then the cache id and now."""
    # `+cache_id` keeps the planner on the row ids: given the choice it may prefer the
    # (cache_id, ...) index, which means reading every row of the cache.
    return (
        f"SELECT {columns} FROM entries WHERE id IN ({_marks(count)}) AND +cache_id = ? AND {LIVE}"
    )


def entries_by_row(
    connection: sqlite3.Connection, cache_id: CacheId, row_ids: Sequence[int], now: Millis
) -> dict[int, Entry]:
    """The live entries of the cache among these rows, by row id."""
    found: dict[int, Entry] = {}
    for chunk in _in_chunks(row_ids):
        rows = connection.execute(
            rows_by_id_sql(ENTRY_COLUMNS, len(chunk)), [*chunk, cache_id, now]
        )
        for row in rows:
            found[row[0]] = entry_from_row(row)
    return found


def rows_carrying(
    connection: sqlite3.Connection,
    cache_id: CacheId,
    row_ids: Sequence[int],
    attributes: Attributes,
    now: Millis,
) -> set[int]:
    """Those rows that are live entries of the cache carrying every attribute."""
    found: set[int] = set()
    for chunk in _in_chunks(row_ids):
        rows = connection.execute(
            rows_by_id_sql("id, attributes", len(chunk)), [*chunk, cache_id, now]
        )
        found.update(
            row_id for row_id, held in rows if matches_attributes(json.loads(held), attributes)
        )
    return found


def record_snapshot(
    connection: sqlite3.Connection, cache_id: CacheId, seq: int, saved_at: Millis
) -> None:
    """Note that a snapshot holds the cache's changes up to ``seq`` (so the log keeps what
    follows), unless the cache was cleared or deleted after that seq."""
    connection.execute(
        "INSERT INTO snapshots (cache_id, seq, saved_at) SELECT ?, ?, ?"
        " WHERE EXISTS (SELECT 1 FROM caches WHERE id = ?)"
        " AND NOT EXISTS (SELECT 1 FROM changes WHERE cache_id = ? AND op = 'clear' AND seq > ?)"
        " ON CONFLICT (cache_id) DO UPDATE SET seq = max(seq, excluded.seq),"
        " saved_at = excluded.saved_at",
        (cache_id, seq, saved_at, cache_id, cache_id, seq),
    )


def prune_changes(connection: sqlite3.Connection, *, keep: int, batch: int) -> int:
    """Delete up to ``batch`` of the oldest changes that no snapshot needs and that are
    more than ``keep`` changes old; returns how many."""
    (oldest_snapshot,) = connection.execute("SELECT min(seq) FROM snapshots").fetchone()
    limit = last_seq(connection) - keep
    if oldest_snapshot is not None:
        limit = min(limit, oldest_snapshot)
    rows = connection.execute(
        "DELETE FROM changes WHERE seq IN"
        " (SELECT seq FROM changes WHERE seq <= ? ORDER BY seq LIMIT ?) RETURNING seq",
        (limit, batch),
    ).fetchall()
    if rows:
        connection.execute(
            "UPDATE meta SET value = max(value, ?) WHERE name = 'pruned_through'",
            (max(seq for (seq,) in rows),),
        )
    return len(rows)
