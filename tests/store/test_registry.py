from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from semcache.errors import ConfigError
from semcache.store import registry as registry_module
from semcache.store.registry import Backend, open_store, registry, scheme_of
from semcache.store.sqlite import SQLiteStore

pytestmark = pytest.mark.anyio


async def _opened_directory(url: str) -> Path:
    store = await open_store(url)
    try:
        assert isinstance(store, SQLiteStore)
        return store.directory.resolve()
    finally:
        await store.close()


async def test_sqlite_url_with_absolute_path(tmp_path: Path) -> None:
    assert await _opened_directory(f"sqlite://{tmp_path}/data") == tmp_path / "data"
    assert (tmp_path / "data" / "semcache.db").exists()


async def test_sqlite_url_with_relative_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert await _opened_directory("sqlite://relative/dir") == tmp_path / "relative" / "dir"


async def test_plain_directory_means_sqlite(tmp_path: Path) -> None:
    assert scheme_of(str(tmp_path)) == "sqlite"
    assert await _opened_directory(str(tmp_path / "plain")) == tmp_path / "plain"


async def test_unknown_scheme_names_the_url_and_the_known_schemes() -> None:
    known = "known: postgres://, postgresql://, sqlite://"
    with pytest.raises(ConfigError, match=rf"'redis://host/0'.*'redis'.*{known}"):
        await open_store("redis://host/0")


@pytest.mark.parametrize("url", ["", "   ", "sqlite://", "sqlite:///dir?mode=ro"])
async def test_malformed_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        await open_store(url)


async def test_backend_that_cannot_be_imported_gives_the_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    missing = Backend("semcache.no_such_module:Store", "install semcache[missing]")
    monkeypatch.setitem(registry_module._registry, "missing", missing)
    with pytest.raises(ConfigError, match=r"install semcache\[missing\]") as caught:
        await open_store("missing://somewhere")
    assert isinstance(caught.value.__cause__, ImportError)


def test_registry_is_read_only() -> None:
    assert set(registry) == {"sqlite", "postgresql", "postgres"}
    with pytest.raises(TypeError):
        registry["other"] = Backend("x:y")  # type: ignore[index]


async def test_postgresql_url_opens_the_postgres_store(postgres_url: str) -> None:
    from semcache.store.postgres import PostgresStore

    for url in [postgres_url, postgres_url.replace("postgresql://", "postgres://", 1)]:
        store = await open_store(url)
        try:
            assert isinstance(store, PostgresStore)
        finally:
            await store.close()


_WITHOUT_DRIVER = """
import asyncio, sys
for name in ("psycopg", "psycopg_pool"):
    sys.modules[name] = None  # makes importing it fail
import semcache.api.app, semcache.cli, semcache.store.registry
from semcache.errors import ConfigError
try:
    asyncio.run(semcache.store.registry.open_store("postgresql://db/semcache"))
except ConfigError as exc:
    print(exc)
"""


def test_base_install_imports_without_the_postgres_driver() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_DRIVER], capture_output=True, text=True, check=True
    )
    assert "pip install 'semcache[postgres]'" in result.stdout
