"""Exact lookups of the SQLite store run on the caller's thread, and fall back to a reader
thread whenever SQLite cannot answer there at once."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from semcache.errors import StoreUnavailable
from semcache.store.base import CacheConfig, Entry
from semcache.store.sqlite import SQLiteStore

pytestmark = pytest.mark.anyio

ENTRY = Entry(
    cache_id="c",
    id="e" * 32,
    prompt="How do I reset my password?",
    response="Use the link on the sign-in page.",
    attributes={"lang": "en"},
    created_at=1,
    vector=np.eye(4, dtype=np.float32)[0],
)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = await SQLiteStore.open(tmp_path, readers=1)
    await opened.create_cache(CacheConfig(id="c", name="c", embedder="fake", created_at=0))
    await opened.put(ENTRY)
    yield opened
    await opened.close()


async def find(store: SQLiteStore) -> list[Entry]:
    return await store.find_exact("c", ENTRY.prompt, attributes={"lang": "en"}, now=2, limit=1)


async def test_an_exact_lookup_is_answered_while_every_reader_thread_is_busy(store) -> None:
    gate = threading.Event()
    busy = asyncio.ensure_future(store._read(lambda _: gate.wait(10)))
    try:
        assert [e.id for e in await asyncio.wait_for(find(store), 5)] == [ENTRY.id]
        assert not busy.done()
    finally:
        gate.set()
        await busy


async def test_an_exact_lookup_waits_for_a_reader_when_sqlite_cannot_answer_at_once(
    store, monkeypatch
) -> None:
    def locked() -> sqlite3.Connection:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(store._inline, "_connection", None)
    monkeypatch.setattr(store._inline, "_connect", locked)
    assert [e.id for e in await find(store)] == [ENTRY.id]
    assert (await store.get_cache("c")) is not None  # the auth lookups fall back too


async def test_a_closed_store_refuses_what_it_would_have_read_on_this_thread(store) -> None:
    assert await store.get_cache("c") is not None  # now held, checked on this thread
    await store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        await find(store)
    with pytest.raises(StoreUnavailable, match="closed"):
        await store.get_cache("c")
