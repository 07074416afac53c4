from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

from semcache.store.base import Store
from semcache.store.sqlite import SQLiteStore

STORE_DOC = (Path(__file__).parents[2] / "docs" / "store.md").read_text()


def test_every_store_method_is_documented() -> None:
    methods = [name for name in vars(Store) if not name.startswith("_")]
    assert methods
    for name in methods:
        assert f"`{name}`" in STORE_DOC, name


def test_every_sqlite_option_is_documented() -> None:
    options = inspect.signature(SQLiteStore.open).parameters
    for name, parameter in options.items():
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            assert f"| `{name}` |" in STORE_DOC, name


def test_every_postgres_option_is_documented_and_read_from_urls() -> None:
    from semcache.store._pg_connect import PostgresOptions
    from semcache.store.postgres import PostgresStore

    section = STORE_DOC[STORE_DOC.index("## The PostgreSQL store") :]
    options = inspect.signature(PostgresStore.open).parameters
    names = [n for n, p in options.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    assert names == [field.name for field in dataclasses.fields(PostgresOptions)]
    for name in names:
        assert f"| `{name}` |" in section, name
