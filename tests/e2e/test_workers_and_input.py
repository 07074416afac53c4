"""Several worker processes agree; bad input over real HTTP gets a 4xx, never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from semcache.testing.server import ServerProcess
from tests.api.test_errors import BAD_SEARCHES, BAD_SETS


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("workers") / "data"
    with ServerProcess(data_dir, args=["--workers", "2"]) as server:
        yield server


def user_client(server: ServerProcess) -> httpx.Client:
    values = server.quickstart
    return httpx.Client(
        base_url=f"{server.url}/v1/caches/{values['CACHE_ID']}",
        headers={"Authorization": f"Bearer {values['API_KEY']}"},
    )


def fresh_connections(server: ServerProcess, count: int) -> Iterator[httpx.Client]:
    """New connections, so that the kernel spreads them over the worker processes."""
    for _ in range(count):
        with user_client(server) as client:
            yield client


def test_workers_see_each_others_writes_at_once(two_workers: ServerProcess) -> None:
    with user_client(two_workers) as writer:
        entry_id = writer.post("/entries", json={"prompt": "Which worker?", "response": "any"})
        entry_id.raise_for_status()
    for client in fresh_connections(two_workers, 12):
        hits = client.post("/entries/search", json={"prompt": "Which worker?"}).json()["data"]
        assert [hit["id"] for hit in hits] == [entry_id.json()["entryId"]]
    with user_client(two_workers) as writer:
        assert writer.post("/flush").status_code == 204
    for client in fresh_connections(two_workers, 12):
        assert client.post("/entries/search", json={"prompt": "Which worker?"}).json() == {
            "data": []
        }


def search_status(server: ServerProcess, api_key: str) -> int:
    """A search on a new connection, so successive calls reach different workers."""
    cache_id = server.quickstart["CACHE_ID"]
    with httpx.Client(base_url=server.url) as fresh:
        response = fresh.post(
            f"/v1/caches/{cache_id}/entries/search",
            json={"prompt": "x"},
            headers={"Authorization": f"Bearer {api_key}"},
        )
    return response.status_code


def test_revoked_keys_fail_on_every_worker(two_workers: ServerProcess) -> None:
    admin = {"Authorization": f"Bearer {two_workers.admin_key}"}
    cache_id = two_workers.quickstart["CACHE_ID"]
    with httpx.Client(base_url=two_workers.url, headers=admin) as client:
        issued = client.post(f"/admin/v1/caches/{cache_id}/keys").json()
        assert [search_status(two_workers, issued["apiKey"]) for _ in range(6)] == [200] * 6
        assert client.delete(f"/admin/v1/keys/{issued['keyId']}").status_code == 204
    assert [search_status(two_workers, issued["apiKey"]) for _ in range(6)] == [401] * 6


@pytest.mark.parametrize(
    ("path", "body"),
    [
        *[("/entries/search", body) for body, _ in BAD_SEARCHES],
        *[("/entries", body) for body, _ in BAD_SETS],
        ("/conversations/search", b'{"prompt": "x", "context": "not a list"}'),
        ("/conversations/search", b'{"prompt": "x", "context": [1, 2]}'),
    ],
)
def test_bad_input_over_http_is_400(two_workers: ServerProcess, path: str, body: bytes) -> None:
    with user_client(two_workers) as client:
        response = client.post(path, content=body)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["type"] == "/errors/invalid-data"


def test_bad_ids_sizes_and_methods_over_http_are_4xx(two_workers: ServerProcess) -> None:
    with user_client(two_workers) as client:
        assert client.delete("/entries/not-hex").status_code == 400
        assert client.delete("/entries/" + "A" * 32).status_code == 400
        assert client.post("/entries", content=b"x" * 2_000_000).status_code == 413
        assert client.get("/entries").status_code == 405
        too_deep = b'{"prompt": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
        assert client.post("/entries/search", content=too_deep).status_code == 400
        not_utf8 = b'{"prompt": "\xff\xfe"}'
        assert client.post("/entries/search", content=not_utf8).status_code == 400
