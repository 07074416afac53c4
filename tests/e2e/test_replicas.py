"""Two server processes over one PostgreSQL database, driven by the official Python SDK."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from langcache import LangCache
from langcache.errors import AuthenticationErrorResponseContent, NotFoundErrorResponseContent
from langcache.models import SearchStrategy

from semcache.testing.postgres import LocalPostgres
from semcache.testing.server import ServerProcess

Replicas = tuple[ServerProcess, ServerProcess]


@pytest.fixture(scope="module")
def replicas(
    postgres: LocalPostgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Replicas]:
    """Two servers started at the same moment on an empty database."""
    url = postgres.create_database(f"replicas_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}")
    base = tmp_path_factory.mktemp("replicas")
    # The second runs two worker processes: every process is a replica.
    servers = [
        ServerProcess(base / "replica1", args=["--store", url]),
        ServerProcess(base / "replica2", args=["--store", url, "--workers", "2"]),
    ]
    try:
        with ThreadPoolExecutor(2) as starting:
            list(starting.map(lambda server: server.start(), servers))
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()


def _founder(replicas: Replicas) -> ServerProcess:
    """The replica that made the first cache, and so holds the quick-start values."""
    [founder] = [s for s in replicas if (s.data_dir / "quickstart.env").exists()]
    return founder


def _clients(replicas: Replicas) -> tuple[LangCache, LangCache]:
    values = _founder(replicas).quickstart
    first, second = (
        LangCache(server_url=server.url, cache_id=values["CACHE_ID"], api_key=values["API_KEY"])
        for server in replicas
    )
    return first, second


def test_only_one_replica_makes_the_first_cache(replicas: Replicas) -> None:
    founder = _founder(replicas)
    admin = {"Authorization": f"Bearer {founder.admin_key}"}
    for server in replicas:
        caches = httpx.get(f"{server.url}/admin/v1/caches", headers=admin).json()["caches"]
        assert [cache["id"] for cache in caches] == [founder.quickstart["CACHE_ID"]]


def test_a_set_on_one_replica_is_found_on_the_other(replicas: Replicas) -> None:
    one, other = _clients(replicas)
    with one, other:
        stored = one.set(
            prompt="How far is the Moon from the Earth?",
            response="About 384,400 km.",
            attributes={"topic": "space"},
        )
        found = other.search(
            prompt="What is the distance between the Earth and the Moon?",
            similarity_threshold=0.7,
            attributes={"topic": "space"},
        )
        assert [hit.id for hit in found.data] == [stored.entry_id]
        exact = other.search(
            prompt="how far is the moon from the earth?",
            search_strategies=[SearchStrategy.EXACT],
        )
        assert [hit.response for hit in exact.data] == ["About 384,400 km."]


def test_deletes_and_flushes_hold_on_every_replica(replicas: Replicas) -> None:
    one, other = _clients(replicas)
    with one, other:
        first = one.set(prompt="Who discovered penicillin?", response="Fleming").entry_id
        one.set(prompt="Who wrote War and Peace?", response="Tolstoy", attributes={"kind": "lit"})
        one.set(prompt="Who painted Guernica?", response="Picasso")
        other.delete_by_id(entry_id=first)
        assert one.search(prompt="Who discovered penicillin?").data == []
        with pytest.raises(NotFoundErrorResponseContent):
            one.delete_by_id(entry_id=first)
        assert other.delete_query(attributes={"kind": "lit"}).deleted_entries_count == 1
        assert one.search(prompt="Who wrote War and Peace?").data == []
        assert other.search(prompt="Who painted Guernica?").data
        one.flush()
        assert other.search(prompt="Who painted Guernica?").data == []


def test_a_key_revoked_on_one_replica_fails_on_the_other(replicas: Replicas) -> None:
    founder, follower = _founder(replicas), next(s for s in replicas if s is not _founder(replicas))
    cache_id = founder.quickstart["CACHE_ID"]
    admin = {"Authorization": f"Bearer {founder.admin_key}"}
    issued = httpx.post(f"{follower.url}/admin/v1/caches/{cache_id}/keys", headers=admin).json()
    with LangCache(server_url=follower.url, cache_id=cache_id, api_key=issued["apiKey"]) as client:
        assert client.search(prompt="anything").data == []
        revoked = httpx.delete(f"{founder.url}/admin/v1/keys/{issued['keyId']}", headers=admin)
        assert revoked.status_code == 204
        with pytest.raises(AuthenticationErrorResponseContent):
            client.search(prompt="anything")


def test_a_cache_deleted_on_one_replica_is_gone_on_the_other(replicas: Replicas) -> None:
    one, other = replicas
    admin = {"Authorization": f"Bearer {_founder(replicas).admin_key}"}
    cache = httpx.post(f"{one.url}/admin/v1/caches", json={"name": "brief"}, headers=admin).json()
    key = httpx.post(f"{one.url}/admin/v1/caches/{cache['id']}/keys", headers=admin).json()
    with LangCache(server_url=other.url, cache_id=cache["id"], api_key=key["apiKey"]) as client:
        client.set(prompt="Is this cache short-lived?", response="yes")
        assert (
            httpx.delete(f"{one.url}/admin/v1/caches/{cache['id']}", headers=admin).status_code
            == 204
        )
        with pytest.raises(AuthenticationErrorResponseContent):
            client.search(prompt="Is this cache short-lived?")


def test_replicas_share_nothing_on_disk(replicas: Replicas) -> None:
    for server in replicas:
        assert not list(Path(server.data_dir).glob("*.db"))
