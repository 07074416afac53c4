from __future__ import annotations

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
    with pytest.raises(ConfigError, match=r"'redis://host/0'.*'redis'.*known: sqlite://"):
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
    assert set(registry) == {"sqlite"}
    with pytest.raises(TypeError):
        registry["other"] = Backend("x:y")  # type: ignore[index]
