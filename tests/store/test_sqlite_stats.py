from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from semcache.store._sqlite_rows import find_exact_sql
from semcache.store._sqlite_stats import merge_buckets
from semcache.store.base import StatsBucket
from semcache.store.sqlite import SQLiteStore
from tests.store._sqlite_helpers import NOW, make_entry, new_store, unit_vectors

pytestmark = pytest.mark.anyio


def _plan(database: Path, sql: str, arguments: list[object]) -> str:
    connection = sqlite3.connect(database)
    try:
        rows = connection.execute(f"EXPLAIN QUERY PLAN {sql}", arguments).fetchall()
    finally:
        connection.close()
    return " | ".join(row[3] for row in rows)


async def test_pages_of_entries_walk_an_index_and_exact_lookups_keep_theirs(
    tmp_path: Path,
) -> None:
    store = await new_store(tmp_path)
    await store.close()
    database = tmp_path / "semcache.db"
    listing = (
        "SELECT entry_id FROM entries WHERE cache_id = ? AND created_at IS NOT NULL"
        " AND (expires_at IS NULL OR expires_at > ?) AND (created_at, entry_id) < (?, ?)"
        " ORDER BY created_at DESC, entry_id DESC LIMIT ?"
    )
    plan = _plan(database, listing, ["c", NOW, NOW, "x", 10])
    assert "USING INDEX entries_listing" in plan and "TEMP B-TREE" not in plan
    exact = _plan(database, find_exact_sql(0), ["c", "q", NOW, 5])
    assert "USING INDEX entries_prompt" in exact


async def test_two_processes_adding_to_one_minute_lose_nothing(tmp_path: Path) -> None:
    first = await new_store(tmp_path)
    second = await SQLiteStore.open(tmp_path)
    one = StatsBucket("c", NOW - NOW % 60_000, searches=1, hits=1, latency_counts=(1,))
    try:
        for _ in range(10):
            await first.record_stats([one])
            await second.record_stats([one])
        [total] = await first.read_stats("c", since=0)
        assert (total.searches, total.latency_counts) == (20, (20,))
    finally:
        await first.close()
        await second.close()


async def test_stats_and_listing_survive_reopening(tmp_path: Path) -> None:
    store = await new_store(tmp_path)
    await store.put(make_entry(1, unit_vectors(1)[0]))
    await store.record_stats([StatsBucket("c", 0, searches=2, items=1)])
    await store.close()
    store = await SQLiteStore.open(tmp_path)
    try:
        assert [b.searches for b in await store.read_stats("c", since=0)] == [2]
        assert [e.id for e in await store.list_entries("c", now=NOW, limit=5)] == ["e1"]
    finally:
        await store.close()


def test_merge_pads_the_shorter_histogram_and_keeps_the_larger_sample() -> None:
    old = StatsBucket("c", 0, searches=1, latency_counts=(1, 2, 3), items=5)
    new = StatsBucket("c", 0, searches=2, latency_counts=(1,), similarity_counts=(4,))
    merged = merge_buckets(old, new)
    assert merged.searches == 3 and merged.items == 5
    assert merged.latency_counts == (2, 2, 3) and merged.similarity_counts == (4,)
