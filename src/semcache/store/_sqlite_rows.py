from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from semcache.errors import CacheNotFound, StoreError
from semcache.store.base import CacheConfig, Entry, KeyRecord, exact_key
from semcache.types import Attributes, CacheId, EntryId, Millis

__all__ = [
    "ENTRY_COLUMNS",
    "LIVE",
    "attribute_filter_sql",
    "clear_cache",
    "count_live",
    "create_cache",
    "delete_cache",
    "delete_entry",
    "delete_matching",
    "entry_from_row",
    "find_exact",
    "find_exact_sql",
    "get_cache",
    "get_entry",
    "get_key",
    "list_caches",
    "list_keys",
    "purge_expired_batch",
    "put_entry",
    "put_key",
    "revoke_key",
]

ENTRY_COLUMNS = "id, cache_id, entry_id, prompt, response, attributes, created_at, expires_at"
LIVE = "(expires_at IS NULL OR expires_at > ?)"
_HAS_ATTRIBUTE = (
    " AND EXISTS (SELECT 1 FROM entry_attributes AS a"
    " WHERE a.entry = entries.id AND a.name = ? AND a.value = ?)"
)
_KEY_COLUMNS = "id, cache_id, salt, digest, label, created_at, revoked_at"


def entry_from_row(row: Sequence[Any]) -> Entry:
    """An `Entry` from a row selected with `ENTRY_COLUMNS` (the vector is left out)."""
    _, cache_id, entry_id, prompt, response, attributes, created_at, expires_at = row
    return Entry(
        cache_id=cache_id,
        id=entry_id,
        prompt=prompt,
        response=response,
        attributes=json.loads(attributes),
        created_at=created_at,
        expires_at=expires_at,
    )


def attribute_filter_sql(cache_id: CacheId, attributes: Attributes) -> tuple[str, list[str]]:
    """A query, and its arguments, for the ids of the cache's entries carrying every
    attribute: an intersection of lookups in the attribute index."""
    one = "SELECT entry FROM entry_attributes WHERE cache_id = ? AND name = ? AND value = ?"
    sql = " INTERSECT ".join([one] * len(attributes))
    return sql, [part for name, value in attributes.items() for part in (cache_id, name, value)]


def _log_change(
    connection: sqlite3.Connection, cache_id: CacheId, entry: int | None, op: str
) -> None:
    connection.execute(
        "INSERT INTO changes (cache_id, entry, op) VALUES (?, ?, ?)", (cache_id, entry, op)
    )


def _log_deletes(connection: sqlite3.Connection, changes: Iterable[tuple[CacheId, int]]) -> None:
    connection.executemany(
        "INSERT INTO changes (cache_id, entry, op) VALUES (?, ?, 'delete')", changes
    )


def _log_clear(connection: sqlite3.Connection, cache_id: CacheId) -> None:
    # A clear makes every earlier change of the cache irrelevant to a reader catching up.
    connection.execute("DELETE FROM changes WHERE cache_id = ?", (cache_id,))
    _log_change(connection, cache_id, None, "clear")
    connection.execute("DELETE FROM snapshots WHERE cache_id = ?", (cache_id,))


# caches


def create_cache(connection: sqlite3.Connection, config: CacheConfig, if_no_caches: bool) -> bool:
    # The writer's BEGIN IMMEDIATE makes the check and the insert one step for every process.
    condition = "NOT EXISTS (SELECT 1 FROM caches)" if if_no_caches else "true"
    cursor = connection.execute(
        "INSERT INTO caches (id, config, created_at)"
        f" SELECT ?, ?, ? WHERE {condition} ON CONFLICT (id) DO NOTHING",
        (config.id, json.dumps(config.to_dict(), ensure_ascii=False), config.created_at),
    )
    return cursor.rowcount == 1


def get_cache(connection: sqlite3.Connection, cache_id: CacheId) -> CacheConfig | None:
    row = connection.execute("SELECT config FROM caches WHERE id = ?", (cache_id,)).fetchone()
    return None if row is None else CacheConfig.from_dict(json.loads(row[0]))


def list_caches(connection: sqlite3.Connection) -> list[CacheConfig]:
    rows = connection.execute("SELECT config FROM caches ORDER BY created_at, rowid")
    return [CacheConfig.from_dict(json.loads(config)) for (config,) in rows]


def delete_cache(connection: sqlite3.Connection, cache_id: CacheId) -> bool:
    if connection.execute("SELECT 1 FROM caches WHERE id = ?", (cache_id,)).fetchone() is None:
        return False
    _log_clear(connection, cache_id)
    connection.execute("DELETE FROM caches WHERE id = ?", (cache_id,))
    return True


# keys


def put_key(connection: sqlite3.Connection, key: KeyRecord) -> None:
    connection.execute(
        f"INSERT OR REPLACE INTO keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (key.id, key.cache_id, key.salt, key.digest, key.label, key.created_at, key.revoked_at),
    )


def _key_from_row(row: Sequence[Any]) -> KeyRecord:
    key_id, cache_id, salt, digest, label, created_at, revoked_at = row
    return KeyRecord(key_id, cache_id, bytes(salt), bytes(digest), label, created_at, revoked_at)


def get_key(connection: sqlite3.Connection, key_id: str) -> KeyRecord | None:
    row = connection.execute(f"SELECT {_KEY_COLUMNS} FROM keys WHERE id = ?", (key_id,)).fetchone()
    return None if row is None else _key_from_row(row)


def list_keys(connection: sqlite3.Connection, cache_id: CacheId | None) -> list[KeyRecord]:
    if cache_id is None:
        rows = connection.execute(f"SELECT {_KEY_COLUMNS} FROM keys ORDER BY created_at, id")
    else:
        rows = connection.execute(
            f"SELECT {_KEY_COLUMNS} FROM keys WHERE cache_id = ? ORDER BY created_at, id",
            (cache_id,),
        )
    return [_key_from_row(row) for row in rows]


def revoke_key(connection: sqlite3.Connection, key_id: str, at: Millis) -> bool:
    cursor = connection.execute(
        "UPDATE keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (at, key_id)
    )
    return cursor.rowcount == 1


# entries


def _fix_dimension(connection: sqlite3.Connection, cache_id: CacheId, dimension: int) -> None:
    row = connection.execute("SELECT dimension FROM caches WHERE id = ?", (cache_id,)).fetchone()
    if row is None:
        raise CacheNotFound(cache_id)
    if row[0] is None:
        connection.execute("UPDATE caches SET dimension = ? WHERE id = ?", (dimension, cache_id))
    elif row[0] != dimension:
        raise StoreError(
            f"cache {cache_id!r} holds {row[0]}-dimensional vectors, got one of {dimension}"
        )


def put_entry(connection: sqlite3.Connection, entry: Entry, vector: bytes, dimension: int) -> int:
    """Insert or replace the entry under a new row id; returns it."""
    _fix_dimension(connection, entry.cache_id, dimension)
    for (old,) in connection.execute(
        "DELETE FROM entries WHERE cache_id = ? AND entry_id = ? RETURNING id",
        (entry.cache_id, entry.id),
    ).fetchall():
        _log_change(connection, entry.cache_id, old, "delete")
    (row_id,) = connection.execute(
        "INSERT INTO entries (cache_id, entry_id, prompt, prompt_key, response, attributes,"
        " vector, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            entry.cache_id,
            entry.id,
            entry.prompt,
            exact_key(entry.prompt),
            entry.response,
            json.dumps(dict(entry.attributes), ensure_ascii=False),
            vector,
            entry.created_at,
            entry.expires_at,
        ),
    ).fetchone()
    connection.executemany(
        "INSERT INTO entry_attributes (entry, cache_id, name, value) VALUES (?, ?, ?, ?)",
        [(row_id, entry.cache_id, name, value) for name, value in entry.attributes.items()],
    )
    _log_change(connection, entry.cache_id, row_id, "put")
    return int(row_id)


def get_entry(
    connection: sqlite3.Connection, cache_id: CacheId, entry_id: EntryId, now: Millis
) -> Entry | None:
    row = connection.execute(
        f"SELECT {ENTRY_COLUMNS} FROM entries WHERE cache_id = ? AND entry_id = ? AND {LIVE}",
        (cache_id, entry_id, now),
    ).fetchone()
    entry = None if row is None else entry_from_row(row)
    return entry if entry is not None and entry.is_live(now) else None


def find_exact_sql(attribute_count: int) -> str:
    """The query behind `find_exact`: parameters are cache id, prompt key, now, then a
    (name, value) pair per attribute, then the limit."""
    return (
        f"SELECT {ENTRY_COLUMNS} FROM entries"
        f" WHERE cache_id = ? AND prompt_key = ? AND {LIVE}"
        f"{_HAS_ATTRIBUTE * attribute_count}"
        " ORDER BY created_at DESC, id DESC LIMIT ?"
    )


def find_exact(
    connection: sqlite3.Connection,
    cache_id: CacheId,
    prompt: str,
    attributes: Attributes,
    now: Millis,
    limit: int,
) -> list[Entry]:
    pairs = [part for item in attributes.items() for part in item]
    rows = connection.execute(
        find_exact_sql(len(attributes)), [cache_id, exact_key(prompt), now, *pairs, limit]
    )
    found = (entry_from_row(row) for row in rows)
    return [entry for entry in found if entry.is_live(now)]


def delete_entry(
    connection: sqlite3.Connection, cache_id: CacheId, entry_id: EntryId, now: Millis
) -> bool:
    rows = connection.execute(
        "DELETE FROM entries WHERE cache_id = ? AND entry_id = ? RETURNING id, expires_at",
        (cache_id, entry_id),
    ).fetchall()
    _log_deletes(connection, [(cache_id, row_id) for row_id, _ in rows])
    return any(_is_live(expires_at, now) for _, expires_at in rows)


def delete_matching(
    connection: sqlite3.Connection, cache_id: CacheId, attributes: Attributes, now: Millis
) -> int:
    candidates, arguments = attribute_filter_sql(cache_id, attributes)
    rows = connection.execute(
        f"DELETE FROM entries WHERE id IN ({candidates}) RETURNING id, expires_at", arguments
    ).fetchall()
    _log_deletes(connection, [(cache_id, row_id) for row_id, _ in rows])
    return sum(_is_live(expires_at, now) for _, expires_at in rows)


def _is_live(expires_at: Millis | None, now: Millis) -> bool:
    return expires_at is None or expires_at > now


def clear_cache(connection: sqlite3.Connection, cache_id: CacheId) -> int:
    cleared = connection.execute("DELETE FROM entries WHERE cache_id = ?", (cache_id,)).rowcount
    _log_clear(connection, cache_id)
    connection.execute("UPDATE caches SET dimension = NULL WHERE id = ?", (cache_id,))
    return cleared


def count_live(connection: sqlite3.Connection, cache_id: CacheId, now: Millis) -> int:
    # Two index-only counts: every row of the cache, minus its expired rows, which the
    # partial expiry index holds (and which purging keeps few).
    (total,) = connection.execute(
        "SELECT count(*) FROM entries WHERE cache_id = ?", (cache_id,)
    ).fetchone()
    (expired,) = connection.execute(
        "SELECT count(*) FROM entries"
        " WHERE expires_at IS NOT NULL AND expires_at <= ? AND +cache_id = ?",
        (now, cache_id),
    ).fetchone()
    return int(total - expired)


def purge_expired_batch(connection: sqlite3.Connection, now: Millis, batch: int) -> int:
    rows = connection.execute(
        "DELETE FROM entries WHERE id IN (SELECT id FROM entries"
        " WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ?) RETURNING cache_id, id",
        (now, batch),
    ).fetchall()
    _log_deletes(connection, rows)
    return len(rows)
