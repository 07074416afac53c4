"""Keys and caches held in memory by the SQLite store never outlive a change to them."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from semcache.store.base import CacheConfig, KeyRecord
from semcache.store.sqlite import SQLiteStore

pytestmark = pytest.mark.anyio

KEY = KeyRecord("k1", "c", b"salt", b"digest", "label", created_at=1)


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[SQLiteStore, SQLiteStore]]:
    """Two stores over one directory, as two server processes would have."""
    first = await SQLiteStore.open(tmp_path)
    second = await SQLiteStore.open(tmp_path)
    await first.create_cache(CacheConfig(id="c", name="c", embedder="fake", created_at=0))
    await first.put_key(KEY)
    yield first, second
    await first.close()
    await second.close()


def reader_trips(store: SQLiteStore) -> int:
    return store._auth.misses


async def test_a_second_lookup_is_answered_from_memory(stores) -> None:
    store, _ = stores
    assert await store.get_key("k1") == KEY
    assert await store.get_cache("c") is not None
    trips = reader_trips(store)
    for _ in range(3):
        assert await store.get_key("k1") == KEY
        assert (await store.get_cache("c")).name == "c"
    assert reader_trips(store) == trips


async def test_a_revoke_by_another_process_is_seen_at_once(stores) -> None:
    store, other = stores
    assert (await store.get_key("k1")).revoked_at is None
    assert await other.revoke_key("k1", at=5)
    assert (await store.get_key("k1")).revoked_at == 5


async def test_a_deleted_cache_or_key_is_gone_at_once(stores) -> None:
    store, other = stores
    await store.get_key("k1")
    await store.get_cache("c")
    assert await other.delete_cache("c")
    assert await store.get_cache("c") is None
    assert await store.get_key("k1") is None


async def test_a_replaced_key_is_read_again(stores) -> None:
    store, other = stores
    await store.get_key("k1")
    replacement = KeyRecord("k1", "c", b"salt2", b"digest2", "new", created_at=2)
    await other.put_key(replacement)
    assert await store.get_key("k1") == replacement


async def test_unknown_names_are_not_held(stores) -> None:
    store, other = stores
    assert await store.get_key("k2") is None
    await other.put_key(KeyRecord("k2", "c", b"s", b"d", "", created_at=3))
    assert await store.get_key("k2") is not None


async def test_every_change_to_keys_or_caches_bumps_the_version(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path)
    connection = sqlite3.connect(tmp_path / "semcache.db")

    def version() -> int:
        query = "SELECT value FROM meta WHERE name = 'auth_version'"
        return int(connection.execute(query).fetchone()[0])

    seen = [version()]
    await store.create_cache(CacheConfig(id="c", name="c", embedder="fake", created_at=0))
    seen.append(version())
    await store.put_key(KEY)
    seen.append(version())
    await store.revoke_key("k1", at=2)
    seen.append(version())
    await store.delete_cache("c")
    seen.append(version())
    assert seen == sorted(set(seen)), seen
    connection.close()
    await store.close()


async def test_a_database_of_the_first_schema_gains_the_version(tmp_path: Path) -> None:
    from semcache.store._sqlite_schema import DATABASE_NAME, MIGRATIONS

    connection = sqlite3.connect(tmp_path / DATABASE_NAME)
    for statement in MIGRATIONS[0]:
        connection.execute(statement)
    connection.execute("PRAGMA user_version = 1")
    connection.commit()
    connection.close()
    store = await SQLiteStore.open(tmp_path)
    await store.create_cache(CacheConfig(id="c", name="c", embedder="fake", created_at=0))
    await store.put_key(KEY)
    assert await store.get_key("k1") == KEY
    assert await store.get_key("k1") == KEY
    assert store._auth.hits == 1
    await store.close()
