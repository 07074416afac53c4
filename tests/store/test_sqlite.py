from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from semcache.errors import CacheNotFound, ConfigError, StoreError, StoreUnavailable
from semcache.store import _sqlite_index
from semcache.store._sqlite_rows import attribute_filter_sql, find_exact_sql
from semcache.store._sqlite_schema import SCHEMA_VERSION
from semcache.store._sqlite_search import SearchRequest, search
from semcache.store._sqlite_vectors import last_seq, rows_by_id_sql
from semcache.store.base import CacheConfig
from semcache.store.sqlite import DEFAULT_HNSW_THRESHOLD, SQLiteStore
from semcache.testing.store_suite import StoreContractTests, StoreFixtures
from tests.store._sqlite_helpers import (
    NOW,
    fill,
    make_entry,
    new_store,
    top_id,
    unit_vectors,
)


class SQLiteFixtures(StoreFixtures):
    @pytest.fixture
    def store_options(self) -> dict[str, Any]:
        return {}

    @pytest.fixture
    async def store(
        self, tmp_path: Path, store_options: dict[str, Any]
    ) -> AsyncIterator[SQLiteStore]:
        store = await SQLiteStore.open(tmp_path / "store", **store_options)
        yield store
        await store.close()


class TestSQLiteStore(SQLiteFixtures, StoreContractTests):
    pass


class TestSQLiteStoreHNSW(SQLiteFixtures, StoreContractTests):
    """The same contract with every cache on HNSW and filters answered through it."""

    @pytest.fixture
    def store_options(self) -> dict[str, Any]:
        return {"hnsw_threshold": 0, "filter_exact_limit": 0}


pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("threshold", [DEFAULT_HNSW_THRESHOLD, 0], ids=["exact", "hnsw"])
async def test_entries_survive_a_restart(tmp_path: Path, threshold: int) -> None:
    vectors = unit_vectors(50)
    store = await new_store(tmp_path, hnsw_threshold=threshold)
    await fill(store, vectors)
    await store.close()
    store = await SQLiteStore.open(tmp_path, hnsw_threshold=threshold)
    try:
        found = await store.find_exact("c", "PROMPT 7", attributes={}, now=NOW, limit=5)
        assert [entry.id for entry in found] == ["e7"]
        assert await top_id(store, vectors[31]) == "e31"
        assert await store.count("c", now=NOW) == 50
    finally:
        await store.close()


async def test_hnsw_index_is_reloaded_from_its_snapshot_not_rebuilt(tmp_path: Path) -> None:
    vectors = unit_vectors(310)
    store = await new_store(tmp_path, hnsw_threshold=0)
    await fill(store, vectors[:300])
    assert await top_id(store, vectors[0]) == "e0"
    await store.close()
    assert len(list((tmp_path / "index").glob("c.*.hnsw"))) == 1

    store = await SQLiteStore.open(tmp_path, hnsw_threshold=0)
    try:
        await fill(store, vectors[300:305], first=300)
        await store.delete("c", "e1", now=NOW)
        await store.delete("c", "e2", now=NOW)
        assert await top_id(store, vectors[10]) == "e10"
        assert await top_id(store, vectors[302]) == "e302"
        assert await top_id(store, vectors[1]) != "e1"
        stats = store.index_stats("c")
        assert stats is not None and stats.kind == "hnsw"
        assert (stats.from_snapshot, stats.from_table, stats.full_loads) == (300, 0, 0)
        assert (stats.replayed, stats.removed, stats.size) == (5, 2, 303)
    finally:
        await store.close()


async def test_snapshot_of_a_cache_whose_id_is_no_file_name(tmp_path: Path) -> None:
    cache_id = "ünï/cache ..\\*?"
    vectors = unit_vectors(40)
    store = await SQLiteStore.open(tmp_path, hnsw_threshold=0)
    await store.create_cache(CacheConfig(id=cache_id, name="odd", embedder="fake", created_at=0))
    await fill(store, vectors, cache_id=cache_id)
    await store.search(cache_id, vectors[0], attributes={}, now=NOW, limit=1)
    await store.close()
    assert [path.parent for path in tmp_path.rglob("*.hnsw")] == [tmp_path / "index"]

    store = await SQLiteStore.open(tmp_path, hnsw_threshold=0)
    try:
        [match] = await store.search(cache_id, vectors[7], attributes={}, now=NOW, limit=1)
        assert match.entry.id == "e7"
        stats = store.index_stats(cache_id)
        assert stats is not None and (stats.from_snapshot, stats.full_loads) == (40, 0)
    finally:
        await store.close()


async def test_concurrent_searches_and_puts_on_one_cache(tmp_path: Path) -> None:
    vectors = unit_vectors(400)
    store = await new_store(tmp_path, hnsw_threshold=0)
    try:
        await fill(store, vectors[:200])

        async def put_then_find(number: int) -> None:
            await store.put(make_entry(number, vectors[number]))
            assert await top_id(store, vectors[number]) == f"e{number}"

        async def find(number: int) -> None:
            assert await top_id(store, vectors[number]) == f"e{number}"

        await asyncio.gather(
            *(put_then_find(n) for n in range(200, 400)), *(find(n) for n in range(200))
        )
        assert await store.count("c", now=NOW) == 400
    finally:
        await store.close()


async def test_a_search_with_nothing_written_since_opens_no_transaction(
    tmp_path: Path,
) -> None:
    vectors = unit_vectors(30)
    store = await new_store(tmp_path, hnsw_threshold=0)
    statements: list[str] = []

    def traced_search(connection: sqlite3.Connection, number: int) -> str:
        connection.set_trace_callback(statements.append)
        try:
            request = SearchRequest("c", vectors[number], {}, NOW, 1)
            [match] = search(connection, store._indexes, request, filter_exact_limit=0)
            return match.entry.id
        finally:
            connection.set_trace_callback(None)

    try:
        await fill(store, vectors[:20])
        assert await top_id(store, vectors[0]) == "e0"  # brings the index up to date
        statements.clear()
        assert await store._read(lambda c: traced_search(c, 1)) == "e1"
        assert not [s for s in statements if s.startswith("BEGIN")], statements
        # Then a write by another process, which this one's refresher does not hear of:
        # the search catches up itself, in one transaction.
        other = await SQLiteStore.open(tmp_path, preload=False)
        try:
            await other.put(make_entry(25, vectors[25]))
        finally:
            await other.close()
        assert await store._read(lambda c: traced_search(c, 25)) == "e25"
        assert "BEGIN" in statements
    finally:
        await store.close()


async def test_writes_are_taken_into_the_index_once_they_pause(tmp_path: Path) -> None:
    vectors = unit_vectors(300)
    store = await new_store(tmp_path, hnsw_threshold=0)
    try:
        await fill(store, vectors[:100])
        assert await top_id(store, vectors[0]) == "e0"  # loads the index
        await fill(store, vectors[100:], first=100)
        head = await store._read(last_seq)
        for _ in range(200):  # no search meanwhile: the refresher's doing
            stats = store.index_stats("c")
            if stats is not None and stats.seq == head:
                break
            await asyncio.sleep(0.025)
        stats = store.index_stats("c")
        assert stats is not None and (stats.seq, stats.size) == (head, 300)
    finally:
        await store.close()


async def test_put_into_a_missing_cache_is_refused(tmp_path: Path) -> None:
    store = await new_store(tmp_path)
    try:
        with pytest.raises(CacheNotFound):
            await store.put(make_entry(1, unit_vectors(1)[0], cache_id="missing"))
    finally:
        await store.close()


async def test_unreadable_snapshot_falls_back_to_a_rebuild(tmp_path: Path) -> None:
    vectors = unit_vectors(100)
    store = await new_store(tmp_path, hnsw_threshold=0)
    await fill(store, vectors)
    await top_id(store, vectors[0])
    await store.close()
    [snapshot] = (tmp_path / "index").glob("c.*.hnsw")
    snapshot.write_bytes(snapshot.read_bytes()[:1000])

    store = await SQLiteStore.open(tmp_path, hnsw_threshold=0)
    try:
        assert await top_id(store, vectors[42]) == "e42"
        stats = store.index_stats("c")
        assert stats is not None
        assert (stats.from_snapshot, stats.from_table, stats.full_loads) == (0, 100, 1)
    finally:
        await store.close()


async def test_snapshot_disagreeing_with_the_table_is_rebuilt(tmp_path: Path) -> None:
    vectors = unit_vectors(100)
    store = await new_store(tmp_path, hnsw_threshold=0)
    await fill(store, vectors)
    await top_id(store, vectors[0])
    await store.close()
    with sqlite3.connect(tmp_path / "semcache.db") as connection:
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("DELETE FROM entries WHERE entry_id IN ('e3', 'e4')")
    connection.close()

    store = await SQLiteStore.open(tmp_path, hnsw_threshold=0, preload=False)
    try:
        assert await top_id(store, vectors[3]) != "e3"
        stats = store.index_stats("c")
        assert stats is not None and (stats.full_loads, stats.size) == (1, 98)
    finally:
        await store.close()


async def test_index_is_saved_in_the_background_after_many_changes(tmp_path: Path) -> None:
    store = await new_store(tmp_path, hnsw_threshold=0, snapshot_every=50)
    try:
        await fill(store, unit_vectors(120))
        await top_id(store, unit_vectors(1, seed=9)[0])
        await _eventually(lambda: bool(list((tmp_path / "index").glob("c.*.hnsw"))))
    finally:
        await store.close()


async def test_cache_moves_from_exact_to_hnsw_as_it_grows(tmp_path: Path) -> None:
    vectors = unit_vectors(30)
    store = await new_store(tmp_path, hnsw_threshold=10)
    try:
        await fill(store, vectors[:8])
        assert await top_id(store, vectors[5]) == "e5"
        assert _kind(store) == "exact"
        await fill(store, vectors[8:], first=8)
        assert await top_id(store, vectors[25]) == "e25"
        assert _kind(store) == "hnsw"
    finally:
        await store.close()


async def test_large_cache_is_moved_to_hnsw_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sqlite_index, "_INLINE_BUILD_WORK", 0)
    vectors = unit_vectors(60)
    store = await new_store(tmp_path, hnsw_threshold=10)
    try:
        await fill(store, vectors[:40])
        assert await top_id(store, vectors[3]) == "e3"
        await _eventually(lambda: _kind(store) == "hnsw")
        await fill(store, vectors[40:], first=40)
        await store.delete("c", "e3", now=NOW)
        assert await top_id(store, vectors[45]) == "e45"
        assert await top_id(store, vectors[3]) != "e3"
        stats = store.index_stats("c")
        assert stats is not None and (stats.conversions, stats.size) == (1, 59)
    finally:
        await store.close()


async def test_log_keeps_what_a_snapshot_needs(tmp_path: Path) -> None:
    vectors = unit_vectors(60)
    store = await new_store(tmp_path, hnsw_threshold=0, log_retention=0)
    await fill(store, vectors[:50])
    await top_id(store, vectors[0])
    await store.close()
    store = await SQLiteStore.open(tmp_path, hnsw_threshold=0, log_retention=0, preload=False)
    await fill(store, vectors[50:], first=50)
    await store.purge_expired(now=NOW)
    await store.close()
    with sqlite3.connect(tmp_path / "semcache.db") as connection:
        assert connection.execute("SELECT count(*) FROM changes").fetchone() == (10,)
    connection.close()

    store = await SQLiteStore.open(tmp_path, hnsw_threshold=0)
    try:
        assert await top_id(store, vectors[55]) == "e55"
        stats = store.index_stats("c")
        assert stats is not None
        assert (stats.from_snapshot, stats.replayed, stats.full_loads) == (50, 10, 0)
    finally:
        await store.close()


def _kind(store: SQLiteStore) -> str | None:
    stats = store.index_stats("c")
    return None if stats is None else stats.kind


async def _eventually(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("filter_exact_limit", [20_000, 0], ids=["candidates", "oversampled"])
async def test_filtered_search_keeps_recall(tmp_path: Path, filter_exact_limit: int) -> None:
    count, groups, queries = 5_000, 100, 100
    vectors = unit_vectors(count, 32, seed=1)
    group_of = np.random.default_rng(2).integers(0, groups, count)
    store = await new_store(tmp_path, hnsw_threshold=0, filter_exact_limit=filter_exact_limit)
    try:
        puts = [
            store.put(make_entry(n, vectors[n], attributes={"group": str(group_of[n])}))
            for n in range(count)
        ]
        for start in range(0, count, 500):
            await asyncio.gather(*puts[start : start + 500])
        await top_id(store, vectors[0])
        assert _kind(store) == "hnsw"
        hits = 0
        for query, group in zip(unit_vectors(queries, 32, seed=3), range(queries), strict=True):
            members = np.flatnonzero(group_of == group)
            truth = f"e{members[np.argmax(vectors[members] @ query)]}"
            found = await store.search(
                "c", query, attributes={"group": str(group)}, now=NOW, limit=1
            )
            hits += bool(found) and found[0].entry.id == truth
        assert hits >= 0.99 * queries
    finally:
        await store.close()


async def test_concurrent_puts_share_commits(tmp_path: Path) -> None:
    store = await new_store(tmp_path)
    try:
        before = store.write_stats.commits
        await fill(store, unit_vectors(200))
        assert store.write_stats.commits - before < 200 / 4
    finally:
        await store.close()


async def test_vector_dimension_is_fixed_per_cache_until_cleared(tmp_path: Path) -> None:
    store = await new_store(tmp_path)
    try:
        await store.put(make_entry(1, unit_vectors(1, 16)[0]))
        with pytest.raises(StoreError, match="16-dimensional"):
            await store.put(make_entry(2, unit_vectors(1, 8)[0]))
        with pytest.raises(StoreError, match="dimensions"):
            await top_id(store, unit_vectors(1, 8)[0])
        await store.clear("c")
        await store.put(make_entry(2, unit_vectors(1, 8)[0]))
        assert await top_id(store, unit_vectors(1, 8)[0]) == "e2"
    finally:
        await store.close()


async def test_reader_behind_the_pruned_log_reloads(tmp_path: Path) -> None:
    vectors = unit_vectors(20)
    first = await new_store(tmp_path, log_retention=0)
    second = await SQLiteStore.open(tmp_path, log_retention=0)
    try:
        await fill(first, vectors[:10])
        assert await top_id(first, vectors[3]) == "e3"
        await fill(second, vectors[10:], first=10)
        await second.purge_expired(now=NOW)
        with sqlite3.connect(tmp_path / "semcache.db") as connection:
            assert connection.execute("SELECT count(*) FROM changes").fetchone() == (0,)
        connection.close()
        assert await top_id(first, vectors[15]) == "e15"
        assert first.index_stats("c").full_loads == 2  # type: ignore[union-attr]
    finally:
        await first.close()
        await second.close()


# schema and query plans


def _plan(database: Path, sql: str, arguments: list[Any]) -> str:
    connection = sqlite3.connect(database)
    try:
        rows = connection.execute(f"EXPLAIN QUERY PLAN {sql}", arguments).fetchall()
    finally:
        connection.close()
    return " | ".join(row[3] for row in rows)


async def test_exact_lookup_and_filters_use_indexes(tmp_path: Path) -> None:
    store = await new_store(tmp_path)
    await store.close()
    database = tmp_path / "semcache.db"
    plan = _plan(database, find_exact_sql(2), ["c", "q", NOW, "a", "1", "b", "2", 5])
    assert "USING INDEX entries_prompt" in plan
    assert "SCAN" not in plan
    candidates, arguments = attribute_filter_sql("c", {"a": "1", "b": "2"})
    plan = _plan(database, candidates, arguments)
    assert "USING COVERING INDEX entry_attributes_lookup" in plan
    assert "SCAN" not in plan
    confirm = rows_by_id_sql("id", 20)
    plan = _plan(database, confirm, [*range(20), "c", NOW])
    assert plan == "SEARCH entries USING INTEGER PRIMARY KEY (rowid=?)"


async def test_schema_version_is_recorded_and_reopening_changes_nothing(tmp_path: Path) -> None:
    store = await new_store(tmp_path)
    await store.close()
    database = tmp_path / "semcache.db"

    def schema() -> tuple[Any, ...]:
        connection = sqlite3.connect(database)
        try:
            return (
                connection.execute("PRAGMA user_version").fetchone()[0],
                connection.execute("PRAGMA journal_mode").fetchone()[0],
                connection.execute("SELECT type, name, sql FROM sqlite_master").fetchall(),
            )
        finally:
            connection.close()

    before = schema()
    assert before[:2] == (SCHEMA_VERSION, "wal")
    for _ in range(2):
        store = await SQLiteStore.open(tmp_path)
        assert await store.get_cache("c") is not None
        await store.close()
    assert schema() == before


async def test_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    store = await new_store(tmp_path)
    await store.close()
    connection = sqlite3.connect(tmp_path / "semcache.db")
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    with pytest.raises(StoreUnavailable, match="upgrade semcache"):
        await SQLiteStore.open(tmp_path)


async def test_unusable_directory_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StoreUnavailable) as caught:
        await SQLiteStore.open(tmp_path / "file")
    assert caught.value.__cause__ is not None


async def test_closed_store_is_unavailable(tmp_path: Path) -> None:
    store = await new_store(tmp_path)
    await store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        await store.get_cache("c")


async def test_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="readers must be at least 1, got 0"):
        await SQLiteStore.open(tmp_path, readers=0)
