from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from semcache.testing.server import ServerProcess


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real server over plain HTTP, with the shipped model, for the whole run."""
    with ServerProcess(tmp_path_factory.mktemp("e2e") / "data") as running:
        yield running


@pytest.fixture
def new_cache(server: ServerProcess) -> Callable[..., tuple[str, str]]:
    """Create a cache (and a key for it) through the admin API: (cache ID, API key)."""

    def create(**spec: object) -> tuple[str, str]:
        admin = {"Authorization": f"Bearer {server.admin_key}"}
        with httpx.Client(base_url=server.url, headers=admin) as client:
            cache = client.post("/admin/v1/caches", json=spec)
            cache.raise_for_status()
            cache_id = cache.json()["id"]
            key = client.post(f"/admin/v1/caches/{cache_id}/keys", json={"label": "test"})
            key.raise_for_status()
            return cache_id, key.json()["apiKey"]

    return create


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.slow)
