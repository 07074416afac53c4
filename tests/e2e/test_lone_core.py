"""One client's requests are answered on one core; overlapping requests get every core."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from semcache.testing.server import ServerProcess

CORES = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set()


def event_loop_cores(server: ServerProcess) -> set[int]:
    """The cores the server's event loop (its main thread, whose id is the process's) may
    run on."""
    assert server.process is not None
    return os.sched_getaffinity(server.process.pid)


@pytest.mark.skipif(len(CORES) < 2, reason="needs two usable cores")
def test_one_client_is_answered_on_one_core_and_overlapping_requests_on_all(
    server: ServerProcess, new_cache: Callable[..., tuple[str, str]]
) -> None:
    cache_id, key = new_cache()
    client = httpx.Client(
        base_url=f"{server.url}/v1/caches/{cache_id}",
        headers={"Authorization": f"Bearer {key}"},
    )

    def search(number: int) -> None:
        client.post("/entries/search", json={"prompt": f"question {number}"}).raise_for_status()

    with client:
        client.post("/entries", json={"prompt": "question 0", "response": "r"}).raise_for_status()
        search(0)
        assert len(event_loop_cores(server)) == 1
        with ThreadPoolExecutor(8) as clients:
            list(clients.map(search, range(64)))
        assert event_loop_cores(server) == CORES
