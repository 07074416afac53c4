"""A server configured with outside models: a query rewriter and a remote embedder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langcache import LangCache
from langcache.errors import FailedDependencyErrorResponseContent

from semcache.testing.server import ServerProcess
from tests.openai_stub import OpenAIStub


@pytest.fixture(scope="module")
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as running:
        yield running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, stub: OpenAIStub) -> Iterator[ServerProcess]:
    env = {
        "SEMCACHE_REWRITER_URL": stub.url,
        "SEMCACHE_REWRITER_MODEL": "rewriter-1",
        "SEMCACHE_REWRITER_API_KEY": "rewriter-secret",
        "SEMCACHE_OPENAI_API_KEY": "embedding-secret",
    }
    data_dir = tmp_path_factory.mktemp("outside") / "data"
    with ServerProcess(data_dir, env=env) as running:
        yield running


def test_conversational_search_searches_the_rewritten_question(
    server: ServerProcess, stub: OpenAIStub
) -> None:
    values = server.quickstart
    with LangCache(server.url, cache_id=values["CACHE_ID"], api_key=values["API_KEY"]) as cache:
        cache.set(prompt="And in Rust? (How do I read a file in Python?)", response="std::fs")
        found = cache.conversational_search(
            prompt="And in Rust?", context=["How do I read a file in Python?"]
        )
    assert found.actual_prompt == "And in Rust? (How do I read a file in Python?)"
    assert [hit.response for hit in found.data] == ["std::fs"]
    path, headers, body = stub.requests[-1]
    assert path == "/v1/chat/completions"
    assert headers["Authorization"] == "Bearer rewriter-secret"
    assert body["model"] == "rewriter-1"


def test_a_cache_can_use_a_remote_embedder(server: ServerProcess, stub: OpenAIStub) -> None:
    admin = {"Authorization": f"Bearer {server.admin_key}"}
    embedder = f"openai:text-embedding-3-small@{stub.url}"
    with httpx.Client(base_url=server.url, headers=admin) as client:
        cache = client.post("/admin/v1/caches", json={"embedder": embedder}).json()
        key = client.post(f"/admin/v1/caches/{cache['id']}/keys").json()["apiKey"]
    assert cache["embedder"] == embedder
    with LangCache(server.url, cache_id=cache["id"], api_key=key) as lang_cache:
        lang_cache.set(prompt="Remote vectors?", response="yes")
        [hit] = lang_cache.search(prompt="REMOTE VECTORS?").data
    assert hit.similarity == 1.0
    path, headers, body = stub.requests[-1]
    assert path == "/v1/embeddings" and body["model"] == "text-embedding-3-small"
    assert headers["Authorization"] == "Bearer embedding-secret"


def test_a_failing_remote_embedder_is_424(tmp_path: Path) -> None:
    with OpenAIStub(status=503) as failing, ServerProcess(tmp_path / "data") as server:
        admin = {"Authorization": f"Bearer {server.admin_key}"}
        with httpx.Client(base_url=server.url, headers=admin) as client:
            embedder = f"openai:m@{failing.url}"
            cache = client.post("/admin/v1/caches", json={"embedder": embedder}).json()
            key = client.post(f"/admin/v1/caches/{cache['id']}/keys").json()["apiKey"]
        with (
            LangCache(server.url, cache_id=cache["id"], api_key=key) as lang_cache,
            pytest.raises(FailedDependencyErrorResponseContent),
        ):
            lang_cache.set(prompt="x", response="y")
