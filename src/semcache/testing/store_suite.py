"""The conformance suite every `Store` backend passes (needs pytest and anyio).

A backend's test module overrides the `store` fixture and mixes in the tests::

    class SQLiteFixtures(StoreFixtures):
        @pytest.fixture
        async def store(self, tmp_path: Path) -> AsyncIterator[Store]:
            store = await SQLiteStore.open(tmp_path)
            yield store
            await store.close()

    class TestSQLiteStore(SQLiteFixtures, StoreContractTests):
        pass

Every test uses small random unit vectors (no embedder) and one fixed clock, ``now``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from semcache.store.base import CacheConfig, Entry, KeyRecord, Match, Store
from semcache.testing._stats_suite import StatsContractTests
from semcache.testing._store_factories import (
    CACHE,
    HOUR,
    NOW,
    ODD_VALUES,
    OTHER_CACHE,
    EntryFactory,
    VectorFactory,
    cache_config,
)
from semcache.types import CacheId, Millis, Vector

__all__ = ["EntryFactory", "StoreContractTests", "StoreFixtures", "VectorFactory", "cache_config"]


class StoreFixtures:
    """Fixtures the suite uses. A backend overrides `store`; capability fixtures have
    defaults a backend may override."""

    @pytest.fixture
    def store(self) -> Store:
        """An empty, open store, closed after the test."""
        raise NotImplementedError("a backend's test class must override the `store` fixture")

    @pytest.fixture
    def dimension(self) -> int:
        """Capability: the vector dimension the suite uses."""
        return 16

    @pytest.fixture
    def similarity_tolerance(self) -> float:
        """Capability: how far a reported similarity may be from the true cosine."""
        return 1e-4

    @pytest.fixture
    def make_vector(self, dimension: int) -> VectorFactory:
        return VectorFactory(dimension)

    @pytest.fixture
    async def caches(self, store: Store) -> tuple[CacheId, CacheId]:
        """Two empty caches, created in the store."""
        await store.create_cache(cache_config(CACHE, NOW - 2))
        await store.create_cache(cache_config(OTHER_CACHE, NOW - 1))
        return CACHE, OTHER_CACHE

    @pytest.fixture
    def make_entry(
        self, caches: tuple[CacheId, CacheId], make_vector: VectorFactory
    ) -> EntryFactory:
        return EntryFactory(make_vector)


def _ids(found: list[Match] | list[Entry]) -> list[str]:
    return [item.entry.id if isinstance(item, Match) else item.id for item in found]


def _key(key_id: str, cache_id: CacheId | None, created_at: Millis = NOW) -> KeyRecord:
    return KeyRecord(
        id=key_id,
        cache_id=cache_id,
        salt=b"\x00salt\xff" + key_id.encode(),
        digest=b"\x00digest\x01" * 4,
        label=f"label of {key_id}",
        created_at=created_at,
    )


def _vector(entry: Entry) -> Vector:
    if entry.vector is None:
        raise AssertionError(f"entry {entry.id!r} was made without a vector")
    return entry.vector


async def _put_all(store: Store, entries: list[Entry]) -> None:
    await asyncio.gather(*(store.put(entry) for entry in entries))


async def _search(store: Store, vector: Vector, **options: Any) -> list[Match]:
    options.setdefault("cache_id", CACHE)
    options.setdefault("attributes", {})
    options.setdefault("limit", 10)
    cache_id = options.pop("cache_id")
    return await store.search(cache_id, vector, now=NOW, **options)


@pytest.mark.anyio
class StoreContractTests(StatsContractTests):
    """The behaviour of `Store` that semcache relies on. Test methods only."""

    # caches

    async def test_create_cache_then_get_returns_it(self, store: Store) -> None:
        config = cache_config("fresh")
        assert await store.create_cache(config) is True
        assert await store.get_cache("fresh") == config

    async def test_create_cache_with_taken_id_changes_nothing(self, store: Store) -> None:
        first = cache_config("taken")
        await store.create_cache(first)
        second = CacheConfig(id="taken", name="other", embedder="other", created_at=NOW + 5)
        assert await store.create_cache(second) is False
        assert await store.get_cache("taken") == first

    async def test_create_cache_if_no_caches_only_on_an_empty_store(self, store: Store) -> None:
        assert await store.create_cache(cache_config("first"), if_no_caches=True) is True
        assert await store.create_cache(cache_config("second"), if_no_caches=True) is False
        assert [config.id for config in await store.list_caches()] == ["first"]
        assert await store.create_cache(cache_config("second")) is True

    async def test_create_cache_if_no_caches_at_once_creates_one(self, store: Store) -> None:
        configs = [cache_config(f"racer{number}") for number in range(8)]
        created = await asyncio.gather(
            *(store.create_cache(config, if_no_caches=True) for config in configs)
        )
        assert sorted(created) == [False] * 7 + [True]
        assert len(await store.list_caches()) == 1

    async def test_get_cache_unknown_returns_none(self, store: Store) -> None:
        assert await store.get_cache("nope") is None

    async def test_list_caches_oldest_first(self, store: Store) -> None:
        for cache_id, created_at in [("b", NOW + 3), ("c", NOW + 1), ("a", NOW + 2)]:
            await store.create_cache(cache_config(cache_id, created_at))
        assert [config.id for config in await store.list_caches()] == ["c", "a", "b"]

    async def test_delete_cache_removes_its_entries_and_keys(
        self, store: Store, make_entry: EntryFactory
    ) -> None:
        mine, theirs = make_entry(), make_entry(cache_id=OTHER_CACHE)
        await _put_all(store, [mine, theirs])
        for key in [_key("k-mine", CACHE), _key("k-theirs", OTHER_CACHE), _key("admin", None)]:
            await store.put_key(key)
        assert await store.delete_cache(CACHE) is True
        assert await store.get_cache(CACHE) is None
        assert [config.id for config in await store.list_caches()] == [OTHER_CACHE]
        assert await store.get(CACHE, mine.id, now=NOW) is None
        assert await store.count(CACHE, now=NOW) == 0
        assert await _search(store, _vector(mine)) == []
        assert await store.find_exact(CACHE, mine.prompt, attributes={}, now=NOW, limit=5) == []
        assert await store.get_key("k-mine") is None
        assert [key.id for key in await store.list_keys()] == ["admin", "k-theirs"]
        assert await store.get(OTHER_CACHE, theirs.id, now=NOW) == theirs

    async def test_delete_cache_unknown_returns_false(self, store: Store) -> None:
        assert await store.delete_cache("nope") is False

    async def test_recreated_cache_starts_empty(
        self, store: Store, make_entry: EntryFactory
    ) -> None:
        old = make_entry("same prompt")
        await store.put(old)
        await _search(store, _vector(old))
        await store.delete_cache(CACHE)
        await store.create_cache(cache_config(CACHE))
        assert await store.count(CACHE, now=NOW) == 0
        assert await _search(store, _vector(old)) == []
        new = make_entry("same prompt")
        await store.put(new)
        assert _ids(await _search(store, _vector(old))) == [new.id]
        assert _ids(
            await store.find_exact(CACHE, "same prompt", attributes={}, now=NOW, limit=5)
        ) == [new.id]

    # keys

    async def test_put_key_then_get_returns_it(self, store: Store, caches: object) -> None:
        key = _key("k1", CACHE)
        await store.put_key(key)
        assert await store.get_key("k1") == key

    async def test_get_key_unknown_returns_none(self, store: Store) -> None:
        assert await store.get_key("nope") is None

    async def test_put_key_again_replaces_it(self, store: Store, caches: object) -> None:
        await store.put_key(_key("k1", CACHE))
        replacement = KeyRecord("k1", OTHER_CACHE, b"s2", b"d2", "relabelled", NOW + 1)
        await store.put_key(replacement)
        assert await store.get_key("k1") == replacement

    async def test_list_keys_of_one_cache_or_all(self, store: Store, caches: object) -> None:
        keys = [
            _key("k-b", CACHE, NOW + 2),
            _key("k-a", CACHE, NOW + 1),
            _key("k-other", OTHER_CACHE, NOW + 3),
            _key("admin", None, NOW),
        ]
        for key in keys:
            await store.put_key(key)
        assert [key.id for key in await store.list_keys(CACHE)] == ["k-a", "k-b"]
        assert [key.id for key in await store.list_keys()] == ["admin", "k-a", "k-b", "k-other"]
        admin = await store.get_key("admin")
        assert admin is not None and admin.cache_id is None

    async def test_revoke_key_once(self, store: Store, caches: object) -> None:
        await store.put_key(_key("k1", CACHE))
        assert await store.revoke_key("k1", at=NOW + 7) is True
        assert await store.revoke_key("k1", at=NOW + 8) is False
        revoked = await store.get_key("k1")
        assert revoked is not None and revoked.revoked_at == NOW + 7
        assert await store.revoke_key("nope", at=NOW) is False

    # put and get

    async def test_put_then_get_round_trips(self, store: Store, make_entry: EntryFactory) -> None:
        entry = make_entry(
            "What is a semantic cache?",
            response="A cache keyed by meaning.\n",
            attributes={"user": "u1", "topic": "caching"},
            expires_at=NOW + HOUR,
        )
        await store.put(entry)
        found = await store.get(CACHE, entry.id, now=NOW)
        assert found == entry
        assert found is not None and found.vector is None
        assert dict(found.attributes) == {"user": "u1", "topic": "caching"}

    @pytest.mark.parametrize("value", ODD_VALUES)
    async def test_attributes_round_trip_byte_for_byte(
        self, store: Store, make_entry: EntryFactory, value: str
    ) -> None:
        entry = make_entry(attributes={"odd": value, "name/with,comma": value})
        await store.put(entry)
        found = await store.get(CACHE, entry.id, now=NOW)
        assert found is not None
        assert dict(found.attributes) == {"odd": value, "name/with,comma": value}
        assert _ids(await _search(store, _vector(entry), attributes={"odd": value})) == [entry.id]

    async def test_get_unknown_or_in_other_cache_returns_none(
        self, store: Store, make_entry: EntryFactory
    ) -> None:
        entry = make_entry()
        await store.put(entry)
        assert await store.get(CACHE, "nope", now=NOW) is None
        assert await store.get(OTHER_CACHE, entry.id, now=NOW) is None

    async def test_get_expired_returns_none(self, store: Store, make_entry: EntryFactory) -> None:
        entry = make_entry(expires_at=NOW)
        await store.put(entry)
        assert await store.get(CACHE, entry.id, now=NOW - 1) == entry
        assert await store.get(CACHE, entry.id, now=NOW) is None

    async def test_put_same_id_replaces_the_entry(
        self, store: Store, make_entry: EntryFactory, make_vector: VectorFactory
    ) -> None:
        old = make_entry("old prompt", entry_id="e", attributes={"user": "old"})
        new = make_entry("new prompt", entry_id="e", attributes={"user": "new"})
        await store.put(old)
        assert _ids(await _search(store, _vector(old))) == ["e"]
        await store.put(new)
        assert await store.get(CACHE, "e", now=NOW) == new
        assert await store.count(CACHE, now=NOW) == 1
        assert await store.find_exact(CACHE, "old prompt", attributes={}, now=NOW, limit=5) == []
        assert await _search(store, _vector(old), attributes={"user": "old"}) == []
        [match] = await _search(store, _vector(new))
        assert match.entry == new and match.similarity == pytest.approx(1.0, abs=1e-4)
        [match] = await _search(store, _vector(old))
        assert match.similarity == pytest.approx(float(_vector(old) @ _vector(new)), abs=1e-4)

    async def test_same_entry_id_in_two_caches_is_two_entries(
        self, store: Store, make_entry: EntryFactory
    ) -> None:
        mine = make_entry("mine", entry_id="e")
        theirs = make_entry("theirs", entry_id="e", cache_id=OTHER_CACHE)
        await _put_all(store, [mine, theirs])
        assert await store.get(CACHE, "e", now=NOW) == mine
        assert await store.get(OTHER_CACHE, "e", now=NOW) == theirs

    async def test_concurrent_puts_all_land(self, store: Store, make_entry: EntryFactory) -> None:
        entries = [make_entry() for _ in range(60)]
        await _put_all(store, entries)
        assert await store.count(CACHE, now=NOW) == 60
        for entry in entries[::7]:
            assert await store.get(CACHE, entry.id, now=NOW) == entry

    # find_exact

    async def test_find_exact_ignores_case(self, store: Store, make_entry: EntryFactory) -> None:
        street, greeting = make_entry("Straße"), make_entry("HELLO World")
        await _put_all(store, [street, greeting])
        for prompt, expected in [("STRASSE", street), ("hello wORLD", greeting)]:
            found = await store.find_exact(CACHE, prompt, attributes={}, now=NOW, limit=5)
            assert found == [expected]

    async def test_find_exact_needs_the_whole_prompt(
        self, store: Store, make_entry: EntryFactory
    ) -> None:
        await store.put(make_entry("hello"))
        for prompt in ["hello ", "hell", "hello?", ""]:
            assert await store.find_exact(CACHE, prompt, attributes={}, now=NOW, limit=5) == []

    async def test_find_exact_needs_every_attribute(
        self, store: Store, make_entry: EntryFactory
    ) -> None:
        both = make_entry("q", attributes={"user": "u1", "topic": "t1"})
        user_only = make_entry("q", attributes={"user": "u1", "topic": "t2"})
        await _put_all(store, [both, user_only])
        wanted = {"user": "u1", "topic": "t1"}
        assert await store.find_exact(CACHE, "q", attributes=wanted, now=NOW, limit=5) == [both]
        found = await store.find_exact(CACHE, "q", attributes={"user": "u1"}, now=NOW, limit=5)
        assert sorted(_ids(found)) == sorted([both.id, user_only.id])
        assert await store.find_exact(CACHE, "q", attributes={"user": "u2"}, now=NOW, limit=5) == []

    async def test_find_exact_newest_first_up_to_limit(
        self, store: Store, make_entry: EntryFactory
    ) -> None:
        entries = [make_entry("q", created_at=NOW - offset) for offset in [30, 10, 20, 40]]
        await _put_all(store, entries)
        found = await store.find_exact(CACHE, "Q", attributes={}, now=NOW, limit=3)
        assert [entry.created_at for entry in found] == [NOW - 10, NOW - 20, NOW - 30]

    async def test_find_exact_skips_expired(self, store: Store, make_entry: EntryFactory) -> None:
        live = make_entry("q", expires_at=NOW + 1)
        await _put_all(store, [make_entry("q", expires_at=NOW), live])
        assert await store.find_exact(CACHE, "q", attributes={}, now=NOW, limit=5) == [live]

    async def test_find_exact_stays_in_its_cache(
        self, store: Store, make_entry: EntryFactory
    ) -> None:
        await store.put(make_entry("q", cache_id=OTHER_CACHE))
        assert await store.find_exact(CACHE, "q", attributes={}, now=NOW, limit=5) == []

    # search

    async def test_search_finds_an_identical_vector(
        self, store: Store, make_entry: EntryFactory
    ) -> None:
        entries = [make_entry() for _ in range(20)]
        await _put_all(store, entries)
        [match] = await _search(store, _vector(entries[5]), limit=1)
        assert match.entry == entries[5]
        assert match.similarity == pytest.approx(1.0, abs=1e-4)

    async def test_search_ranks_by_cosine_best_first(
        self,
        store: Store,
        make_entry: EntryFactory,
        make_vector: VectorFactory,
        similarity_tolerance: float,
    ) -> None:
        entries = [make_entry() for _ in range(40)]
        await _put_all(store, entries)
        query = make_vector()
        expected = sorted(entries, key=lambda entry: -float(_vector(entry) @ query))[:5]
        found = await _search(store, query * 3.0, limit=5)  # cosine, whatever the length
        assert _ids(found) == _ids(expected)
        for match, entry in zip(found, expected, strict=True):
            assert match.similarity == pytest.approx(
                float(_vector(entry) @ query), abs=similarity_tolerance
            )

    async def test_search_respects_limit(self, store: Store, make_entry: EntryFactory) -> None:
        entries = [make_entry() for _ in range(12)]
        await _put_all(store, entries)
        assert len(await _search(store, _vector(entries[0]), limit=3)) == 3
        assert len(await _search(store, _vector(entries[0]), limit=1)) == 1
        assert len(await _search(store, _vector(entries[0]), limit=50)) == 12

    async def test_search_needs_every_attribute(
        self, store: Store, make_entry: EntryFactory, make_vector: VectorFactory
    ) -> None:
        query = make_vector()
        both = make_entry(
            vector=make_vector(near=query, noise=0.5), attributes={"a": "1", "b": "2"}
        )
        only_a = make_entry(vector=query, attributes={"a": "1", "b": "3"})
        neither = make_entry(vector=query, attributes={"c": "1"})
        await _put_all(store, [both, only_a, neither] + [make_entry() for _ in range(20)])
        assert _ids(await _search(store, query, attributes={"a": "1", "b": "2"})) == [both.id]
        assert _ids(await _search(store, query, attributes={"a": "1"})) == [only_a.id, both.id]
        assert await _search(store, query, attributes={"a": "2"}) == []
        assert await _search(store, query, attributes={"a": "1", "c": "1"}) == []

    async def test_search_never_returns_another_caches_entries(
        self, store: Store, make_entry: EntryFactory, make_vector: VectorFactory
    ) -> None:
        query = make_vector()
        theirs = [
            make_entry(cache_id=OTHER_CACHE, vector=make_vector(near=query, noise=0.01))
            for _ in range(30)
        ]
        mine = make_entry(vector=make_vector(near=query, noise=1.0))
        await _put_all(store, [*theirs, mine])
        assert _ids(await _search(store, query)) == [mine.id]
        assert len(await _search(store, query, cache_id=OTHER_CACHE, limit=50)) == 30

    async def test_search_skips_deleted_entries(
        self, store: Store, make_entry: EntryFactory
    ) -> None:
        entries = [make_entry() for _ in range(10)]
        await _put_all(store, entries)
        await _search(store, _vector(entries[0]))
        assert await store.delete(CACHE, entries[0].id, now=NOW) is True
        found = await _search(store, _vector(entries[0]), limit=20)
        assert entries[0].id not in _ids(found) and len(found) == 9

    async def test_search_skips_cleared_entries(
        self, store: Store, make_entry: EntryFactory
    ) -> None:
        old = [make_entry() for _ in range(10)]
        await _put_all(store, old)
        await _search(store, _vector(old[0]))
        await store.clear(CACHE)
        assert await _search(store, _vector(old[0])) == []
        new = make_entry()
        await store.put(new)
        assert _ids(await _search(store, _vector(old[0]))) == [new.id]

    async def test_search_skips_expired_entries(
        self, store: Store, make_entry: EntryFactory, make_vector: VectorFactory
    ) -> None:
        query = make_vector()
        expired = make_entry(vector=query, expires_at=NOW)
        live = make_entry(vector=make_vector(near=query, noise=0.5), expires_at=NOW + 1)
        await _put_all(store, [expired, live, make_entry()])
        assert _ids(await _search(store, query, limit=1)) == [live.id]
        assert expired.id not in _ids(await _search(store, query, limit=10))

    async def test_search_after_upsert_finds_the_new_vector(
        self, store: Store, make_entry: EntryFactory, make_vector: VectorFactory
    ) -> None:
        others = [make_entry() for _ in range(10)]
        old = make_entry(entry_id="e")
        await _put_all(store, [*others, old])
        await _search(store, _vector(old))
        new = make_entry(entry_id="e", vector=make_vector())
        await store.put(new)
        [match] = await _search(store, _vector(new), limit=1)
        assert match.entry == new and match.similarity == pytest.approx(1.0, abs=1e-4)
        for match in await _search(store, _vector(old), limit=20):
            assert match.similarity < 0.999 or match.entry.id != "e"

    async def test_search_of_empty_or_unknown_cache_finds_nothing(
        self, store: Store, caches: object, make_vector: VectorFactory
    ) -> None:
        assert await _search(store, make_vector()) == []
        assert await _search(store, make_vector(), cache_id="nope") == []

    async def test_search_filter_matching_nothing_finds_nothing(
        self, store: Store, make_entry: EntryFactory
    ) -> None:
        entry = make_entry(attributes={"user": "u1"})
        await store.put(entry)
        assert await _search(store, _vector(entry), attributes={"user": "u2"}) == []
        assert await _search(store, _vector(entry), attributes={"nobody": "u1"}) == []

    # delete, delete_matching, clear

    async def test_delete_live_entry_returns_true_once(
        self, store: Store, make_entry: EntryFactory
    ) -> None:
        entry = make_entry()
        await store.put(entry)
        assert await store.delete(CACHE, entry.id, now=NOW) is True
        assert await store.delete(CACHE, entry.id, now=NOW) is False
        assert await store.get(CACHE, entry.id, now=NOW) is None

    async def test_delete_unknown_or_expired_returns_false(
        self, store: Store, make_entry: EntryFactory
    ) -> None:
        expired = make_entry(expires_at=NOW)
        await store.put(expired)
        assert await store.delete(CACHE, "nope", now=NOW) is False
        assert await store.delete(OTHER_CACHE, expired.id, now=NOW) is False
        assert await store.delete(CACHE, expired.id, now=NOW) is False

    async def test_delete_matching_counts_live_matches_and_keeps_the_rest(
        self, store: Store, make_entry: EntryFactory
    ) -> None:
        wanted = {"user": "u1", "topic": "t1"}
        matching = [make_entry(attributes=wanted) for _ in range(3)]
        expired = make_entry(attributes=wanted, expires_at=NOW)
        partly = make_entry(attributes={"user": "u1", "topic": "t2"})
        other = make_entry(attributes={"user": "u2"})
        theirs = make_entry(cache_id=OTHER_CACHE, attributes=wanted)
        await _put_all(store, [*matching, expired, partly, other, theirs])
        assert await store.delete_matching(CACHE, wanted, now=NOW) == 3
        assert await store.count(CACHE, now=NOW) == 2
        for entry in matching:
            assert await store.get(CACHE, entry.id, now=NOW) is None
        assert await store.get(CACHE, partly.id, now=NOW) == partly
        assert await store.get(OTHER_CACHE, theirs.id, now=NOW) == theirs
        assert await _search(store, _vector(matching[0]), attributes=wanted) == []
        assert await store.delete_matching(CACHE, wanted, now=NOW) == 0

    async def test_clear_removes_every_entry_of_the_cache(
        self, store: Store, make_entry: EntryFactory
    ) -> None:
        await _put_all(store, [make_entry() for _ in range(5)])
        theirs = make_entry(cache_id=OTHER_CACHE)
        await store.put(theirs)
        assert await store.clear(CACHE) == 5
        assert await store.count(CACHE, now=NOW) == 0
        assert await store.get_cache(CACHE) is not None
        assert await store.get(OTHER_CACHE, theirs.id, now=NOW) == theirs
        assert await store.clear(CACHE) == 0

    # count, purge, close

    async def test_count_ignores_expired(self, store: Store, make_entry: EntryFactory) -> None:
        await _put_all(
            store,
            [
                make_entry(),
                make_entry(expires_at=NOW + 1),
                make_entry(expires_at=NOW),
                make_entry(expires_at=NOW - HOUR),
                make_entry(cache_id=OTHER_CACHE),
            ],
        )
        assert await store.count(CACHE, now=NOW) == 2
        assert await store.count(CACHE, now=NOW - HOUR) == 3
        assert await store.count("nope", now=NOW) == 0

    async def test_purge_expired_removes_expired_rows_only(
        self, store: Store, make_entry: EntryFactory
    ) -> None:
        expired = [make_entry(expires_at=NOW - offset) for offset in range(5)]
        expired.append(make_entry(cache_id=OTHER_CACHE, expires_at=NOW))
        live = [make_entry(), make_entry(expires_at=NOW + 1)]
        await _put_all(store, [*expired, *live])
        assert await store.purge_expired(now=NOW, limit=2) == 2
        assert await store.purge_expired(now=NOW) == 4
        assert await store.purge_expired(now=NOW) == 0
        assert await store.count(CACHE, now=NOW - HOUR) == 2
        for entry in live:
            assert await store.get(CACHE, entry.id, now=NOW) == entry
        assert await store.delete(CACHE, expired[0].id, now=NOW - HOUR) is False

    async def test_close_is_idempotent(self, store: Store) -> None:
        await store.close()
        await store.close()
