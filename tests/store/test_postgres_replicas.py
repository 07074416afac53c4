"""Several PostgresStore instances over one database, as several replicas use it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from semcache.errors import CacheNotFound
from semcache.store.base import CacheConfig, KeyRecord
from semcache.store.postgres import PostgresStore
from tests.store._postgres_helpers import new_store
from tests.store._sqlite_helpers import NOW, fill, make_entry, top_id, unit_vectors

pytestmark = pytest.mark.anyio


@pytest.fixture
async def pair(postgres_url: str) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    first = await new_store(postgres_url)
    second = await PostgresStore.open(postgres_url, pool_timeout=60)
    yield first, second
    await first.close()
    await second.close()


async def test_entries_written_by_one_are_read_by_the_other(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    one, other = pair
    vectors = unit_vectors(30)
    await fill(one, vectors, attributes={"user": "u1"})
    assert await top_id(other, vectors[12]) == "e12"
    assert await other.get("c", "e3", now=NOW) == make_entry(
        3, vectors[3], attributes={"user": "u1"}
    )
    [exact] = await other.find_exact("c", "PROMPT 4", attributes={"user": "u1"}, now=NOW, limit=5)
    assert exact.id == "e4"
    assert await other.count("c", now=NOW) == 30

    assert await other.delete("c", "e12", now=NOW) is True
    assert await top_id(one, vectors[12]) != "e12"
    assert await one.delete("c", "e12", now=NOW) is False
    await one.put(make_entry(12, vectors[12], attributes={"user": "u2"}))
    assert await other.delete_matching("c", {"user": "u1"}, now=NOW) == 29
    assert await one.count("c", now=NOW) == 1
    assert await one.clear("c") == 1
    assert await top_id(other, vectors[12]) is None


async def test_keys_and_caches_changed_by_one_hold_for_the_other(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    one, other = pair
    key = KeyRecord("k1", "c", b"salt", b"digest", "label", NOW)
    await one.put_key(key)
    assert await other.get_key("k1") == key
    assert await other.revoke_key("k1", at=NOW + 1) is True
    revoked = await one.get_key("k1")
    assert revoked is not None and revoked.revoked_at == NOW + 1
    assert await one.revoke_key("k1", at=NOW + 2) is False

    assert await other.delete_cache("c") is True
    assert await one.get_cache("c") is None
    assert await one.get_key("k1") is None
    with pytest.raises(CacheNotFound):
        await one.put(make_entry(1, unit_vectors(1)[0]))


async def test_only_one_first_cache_when_stores_race(postgres_url: str) -> None:
    stores = await asyncio.gather(*(PostgresStore.open(postgres_url) for _ in range(4)))
    try:
        configs = [
            CacheConfig(id=f"first{n}", name="", embedder="fake", created_at=n) for n in range(12)
        ]
        created = await asyncio.gather(
            *(
                stores[n % len(stores)].create_cache(config, if_no_caches=True)
                for n, config in enumerate(configs)
            )
        )
        assert sum(created) == 1
        assert len(await stores[0].list_caches()) == 1
    finally:
        await asyncio.gather(*(store.close() for store in stores))


async def test_replicas_purging_at_once_share_the_work(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    one, other = pair
    vectors = unit_vectors(3000)
    await fill(one, vectors[:2500], expires_at=NOW)
    await fill(one, vectors[2500:], first=2500)
    purged = await asyncio.gather(one.purge_expired(now=NOW), other.purge_expired(now=NOW))
    assert sum(purged) == 2500
    assert await other.count("c", now=0) == 500


async def test_an_index_asked_for_by_one_is_built_once(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    one, other = pair
    await fill(one, unit_vectors(10))
    await other.purge_expired(now=NOW)
    await asyncio.gather(one.wait_for_indexes(), other.wait_for_indexes())
    async with other.pool.connection() as connection:
        cursor = await connection.execute(
            "SELECT count(*) FROM pg_indexes"
            " WHERE schemaname = current_schema() AND indexname LIKE 'semcache_entries_hnsw_%'"
        )
        assert await cursor.fetchone() == (1,)
