from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from semcache.api.app import create_app
from semcache.config import Settings
from semcache.core.admin import CacheSpec
from semcache.core.services import Services
from semcache.embedding.registry import EmbedderRegistry
from semcache.embedding.verifier import VerifierRegistry
from semcache.store.registry import open_store
from semcache.testing.fakes import FakeEmbedder


@dataclass
class Deployment:
    """A running app over a data directory, with one cache, its key and an admin key."""

    client: TestClient
    cache_id: str
    api_key: str
    admin_key: str
    settings: Settings

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.api_key}"}

    def url(self, path: str = "", cache_id: str | None = None) -> str:
        return f"/v1/caches/{cache_id or self.cache_id}{path}"

    def new_cache(self, **spec: object) -> tuple[str, str]:
        """Make another cache and a key for it through the admin API."""
        admin = self.headers(self.admin_key)
        created = self.client.post("/admin/v1/caches", json=spec, headers=admin)
        assert created.status_code == 201, created.text
        cache_id = created.json()["id"]
        key = self.client.post(f"/admin/v1/caches/{cache_id}/keys", headers=admin)
        return cache_id, key.json()["apiKey"]


async def _provision(settings: Settings, embedders: EmbedderRegistry) -> tuple[str, str, str]:
    store = await open_store(settings.store_url)
    services = Services.build(store, embedders, default_embedder="fake")
    cache = await services.admin.create(CacheSpec(name="test", similarity_threshold=0.9))
    key = await services.keys.issue(cache.id)
    admin = await services.keys.issue(None)
    await store.close()
    return cache.id, key.secret, admin.secret


@pytest.fixture
def deployment_factory(tmp_path: Path) -> Iterator[object]:
    clients: list[TestClient] = []

    def make(verifiers: VerifierRegistry | None = None, **settings: object) -> Deployment:
        embedders = EmbedderRegistry()
        embedders.register("fake", FakeEmbedder())
        # The fake embedder's vectors mean nothing to a verifier: decide by cosine unless asked.
        settings = {"verifier": "off", **settings}
        config = Settings(data_dir=tmp_path / f"data{len(clients)}", embedder="fake", **settings)  # type: ignore[arg-type]
        cache_id, api_key, admin_key = asyncio.run(_provision(config, embedders))
        app = create_app(config, embedders=embedders, verifiers=verifiers)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return Deployment(client, cache_id, api_key, admin_key, config)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def deployment(deployment_factory) -> Deployment:
    return deployment_factory()
