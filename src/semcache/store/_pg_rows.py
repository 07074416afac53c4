from __future__ import annotations

from collections.abc import Sequence
from typing import Any, LiteralString

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from semcache.errors import CacheNotFound, StoreError
from semcache.store.base import CacheConfig, Entry, KeyRecord, exact_key
from semcache.types import Attributes, CacheId, EntryId, Millis, Vector

__all__ = [
    "ENTRY_COLUMNS",
    "LIVE",
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
    "put_first_entry",
    "put_key",
    "revoke_key",
]

Connection = AsyncConnection[Any]

ENTRY_COLUMNS: LiteralString = (
    "e.entry_id, e.prompt, e.response, e.attributes, e.created_at, e.expires_at"
)
LIVE: LiteralString = "(e.expires_at IS NULL OR e.expires_at > %(now)s)"
CACHE_NO: LiteralString = "(SELECT no FROM semcache_caches WHERE id = %(cache_id)s)"
_KEY_COLUMNS: LiteralString = "id, cache_id, salt, digest, label, created_at, revoked_at"
# Every create_cache takes this lock, shared; one that needs the store to hold no cache
# takes it alone, so that of several processes starting at once only one creates a cache.
_CREATE_LOCK: LiteralString = "hashtext('semcache create cache ' || current_schema())"


def entry_from_row(cache_id: CacheId, row: Sequence[Any]) -> Entry:
    """An `Entry` from a row that starts with `ENTRY_COLUMNS` (the vector is left out)."""
    entry_id, prompt, response, attributes, created_at, expires_at = row[:6]
    return Entry(
        cache_id=cache_id,
        id=entry_id,
        prompt=prompt,
        response=response,
        attributes=attributes,
        created_at=created_at,
        expires_at=expires_at,
    )


# caches


async def create_cache(connection: Connection, config: CacheConfig, if_no_caches: bool) -> bool:
    async with connection.transaction():
        if if_no_caches:
            await connection.execute(f"SELECT pg_advisory_xact_lock({_CREATE_LOCK})")
        else:
            await connection.execute(f"SELECT pg_advisory_xact_lock_shared({_CREATE_LOCK})")
        condition = "NOT EXISTS (SELECT 1 FROM semcache_caches)" if if_no_caches else "true"
        cursor = await connection.execute(
            "INSERT INTO semcache_caches (id, config, created_at)"
            f" SELECT %s, %s, %s WHERE {condition} ON CONFLICT (id) DO NOTHING",
            (config.id, Jsonb(config.to_dict()), config.created_at),
        )
        return cursor.rowcount == 1


async def get_cache(connection: Connection, cache_id: CacheId) -> CacheConfig | None:
    cursor = await connection.execute(
        "SELECT config FROM semcache_caches WHERE id = %s", (cache_id,)
    )
    row = await cursor.fetchone()
    return None if row is None else CacheConfig.from_dict(row[0])


async def list_caches(connection: Connection) -> list[CacheConfig]:
    cursor = await connection.execute("SELECT config FROM semcache_caches ORDER BY created_at, no")
    return [CacheConfig.from_dict(config) for (config,) in await cursor.fetchall()]


async def delete_cache(connection: Connection, cache_id: CacheId) -> int | None:
    """Delete the cache with its entries and keys; returns its number, or None."""
    cursor = await connection.execute(
        "DELETE FROM semcache_caches WHERE id = %s RETURNING no", (cache_id,)
    )
    row = await cursor.fetchone()
    return None if row is None else int(row[0])


# keys


async def put_key(connection: Connection, key: KeyRecord) -> None:
    await connection.execute(
        f"INSERT INTO semcache_keys ({_KEY_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET cache_id = EXCLUDED.cache_id, salt = EXCLUDED.salt,"
        " digest = EXCLUDED.digest, label = EXCLUDED.label, created_at = EXCLUDED.created_at,"
        " revoked_at = EXCLUDED.revoked_at",
        (key.id, key.cache_id, key.salt, key.digest, key.label, key.created_at, key.revoked_at),
    )


def _key_from_row(row: Sequence[Any]) -> KeyRecord:
    key_id, cache_id, salt, digest, label, created_at, revoked_at = row
    return KeyRecord(key_id, cache_id, bytes(salt), bytes(digest), label, created_at, revoked_at)


async def get_key(connection: Connection, key_id: str) -> KeyRecord | None:
    cursor = await connection.execute(
        f"SELECT {_KEY_COLUMNS} FROM semcache_keys WHERE id = %s", (key_id,)
    )
    row = await cursor.fetchone()
    return None if row is None else _key_from_row(row)


async def list_keys(connection: Connection, cache_id: CacheId | None) -> list[KeyRecord]:
    if cache_id is None:
        cursor = await connection.execute(
            f"SELECT {_KEY_COLUMNS} FROM semcache_keys ORDER BY created_at, id"
        )
    else:
        cursor = await connection.execute(
            f"SELECT {_KEY_COLUMNS} FROM semcache_keys WHERE cache_id = %s ORDER BY created_at, id",
            (cache_id,),
        )
    return [_key_from_row(row) for row in await cursor.fetchall()]


async def revoke_key(connection: Connection, key_id: str, at: Millis) -> bool:
    cursor = await connection.execute(
        "UPDATE semcache_keys SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL",
        (at, key_id),
    )
    return cursor.rowcount == 1


# entries


async def get_entry(
    connection: Connection, cache_id: CacheId, entry_id: EntryId, now: Millis
) -> Entry | None:
    cursor = await connection.execute(
        f"SELECT {ENTRY_COLUMNS} FROM semcache_entries e"
        f" WHERE e.cache_no = {CACHE_NO} AND e.entry_id = %(entry_id)s AND {LIVE}",
        {"cache_id": cache_id, "entry_id": entry_id, "now": now},
    )
    row = await cursor.fetchone()
    return None if row is None else entry_from_row(cache_id, row)


def find_exact_sql(with_attributes: bool) -> LiteralString:
    """The query behind `find_exact`: parameters cache_id, key, now, attributes, limit."""
    condition = " AND e.attributes @> %(attributes)s" if with_attributes else ""
    return (
        f"SELECT {ENTRY_COLUMNS} FROM semcache_entries e"
        f" WHERE e.prompt_key = %(key)s AND e.cache_no = {CACHE_NO} AND {LIVE}{condition}"
        " ORDER BY e.created_at DESC, e.id DESC LIMIT %(limit)s"
    )


async def find_exact(
    connection: Connection,
    cache_id: CacheId,
    prompt: str,
    attributes: Attributes,
    now: Millis,
    limit: int,
) -> list[Entry]:
    cursor = await connection.execute(
        find_exact_sql(bool(attributes)),
        {
            "cache_id": cache_id,
            "key": exact_key(prompt),
            "now": now,
            "attributes": Jsonb(dict(attributes)),
            "limit": limit,
        },
    )
    return [entry_from_row(cache_id, row) for row in await cursor.fetchall()]


async def delete_entry(
    connection: Connection, cache_id: CacheId, entry_id: EntryId, now: Millis
) -> bool:
    cursor = await connection.execute(
        f"DELETE FROM semcache_entries e WHERE e.cache_no = {CACHE_NO}"
        f" AND e.entry_id = %(entry_id)s RETURNING {LIVE}",
        {"cache_id": cache_id, "entry_id": entry_id, "now": now},
    )
    return any(live for (live,) in await cursor.fetchall())


async def delete_matching(
    connection: Connection, cache_id: CacheId, attributes: Attributes, now: Millis
) -> int:
    cursor = await connection.execute(
        f"WITH gone AS (DELETE FROM semcache_entries e WHERE e.cache_no = {CACHE_NO}"
        f" AND e.attributes @> %(attributes)s RETURNING {LIVE} AS live)"
        " SELECT count(*) FILTER (WHERE live) FROM gone",
        {"cache_id": cache_id, "attributes": Jsonb(dict(attributes)), "now": now},
    )
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def clear_cache(connection: Connection, cache_id: CacheId) -> int:
    cursor = await connection.execute(
        f"DELETE FROM semcache_entries e WHERE e.cache_no = {CACHE_NO}", {"cache_id": cache_id}
    )
    return cursor.rowcount


async def count_live(connection: Connection, cache_id: CacheId, now: Millis) -> int:
    cursor = await connection.execute(
        f"SELECT count(*) FROM semcache_entries e WHERE e.cache_no = {CACHE_NO} AND {LIVE}",
        {"cache_id": cache_id, "now": now},
    )
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def purge_expired_batch(connection: Connection, now: Millis, batch: int) -> int:
    # SKIP LOCKED: several replicas purging at once share the work instead of queueing.
    cursor = await connection.execute(
        "DELETE FROM semcache_entries WHERE id IN (SELECT id FROM semcache_entries"
        " WHERE expires_at <= %s LIMIT %s FOR UPDATE SKIP LOCKED)",
        (now, batch),
    )
    return cursor.rowcount


# put

_INSERT: LiteralString = (
    "INSERT INTO semcache_entries (cache_no, entry_id, prompt, prompt_key, response,"
    " attributes, embedding, created_at, expires_at)"
)
_VALUES: LiteralString = (
    "%(entry_id)s, %(prompt)s, %(key)s, %(response)s, %(attributes)s, %(vector)b,"
    " %(created_at)s, %(expires_at)s"
)
_UPSERT: LiteralString = (
    " ON CONFLICT (cache_no, entry_id) DO UPDATE SET prompt = EXCLUDED.prompt,"
    " prompt_key = EXCLUDED.prompt_key, response = EXCLUDED.response,"
    " attributes = EXCLUDED.attributes, embedding = EXCLUDED.embedding,"
    " created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at"
)


def _entry_parameters(entry: Entry, vector: Vector) -> dict[str, Any]:
    return {
        "cache_id": entry.cache_id,
        "entry_id": entry.id,
        "prompt": entry.prompt,
        "key": exact_key(entry.prompt),
        "response": entry.response,
        "attributes": Jsonb(dict(entry.attributes)),
        "vector": vector,
        "dimension": len(vector),
        "created_at": entry.created_at,
        "expires_at": entry.expires_at,
    }


async def put_entry(connection: Connection, entry: Entry, vector: Vector) -> bool:
    """Insert or replace the entry in one statement, if its cache's dimension is already
    that of ``vector``; returns False (changing nothing) otherwise."""
    cursor = await connection.execute(
        f"{_INSERT} SELECT no, {_VALUES} FROM semcache_caches"
        f" WHERE id = %(cache_id)s AND dimension = %(dimension)s{_UPSERT}",
        _entry_parameters(entry, vector),
    )
    return cursor.rowcount == 1


async def put_first_entry(connection: Connection, entry: Entry, vector: Vector) -> int | None:
    """Insert or replace the entry, fixing the cache's dimension if it has none yet; returns
    the cache's number when this put fixed it.

    Raises:
        CacheNotFound: there is no such cache.
        StoreError: the cache holds vectors of another dimension.
    """
    async with connection.transaction():
        cursor = await connection.execute(
            "SELECT no, dimension FROM semcache_caches WHERE id = %s FOR NO KEY UPDATE",
            (entry.cache_id,),
        )
        row = await cursor.fetchone()
        if row is None:
            raise CacheNotFound(entry.cache_id)
        number, dimension = row
        if dimension is None:
            await connection.execute(
                "UPDATE semcache_caches SET dimension = %s WHERE no = %s", (len(vector), number)
            )
        elif dimension != len(vector):
            raise StoreError(
                f"cache {entry.cache_id!r} holds {dimension}-dimensional vectors,"
                f" got one of {len(vector)}"
            )
        parameters = {**_entry_parameters(entry, vector), "no": number}
        await connection.execute(f"{_INSERT} VALUES (%(no)s, {_VALUES}){_UPSERT}", parameters)
    return int(number) if dimension is None else None
