from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from semcache.store.sqlite import SQLiteStore
from semcache.testing.store_suite import StoreContractTests, StoreFixtures


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
