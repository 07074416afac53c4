"""What was acknowledged survives a restart and a ``kill -9``."""

from __future__ import annotations

import stat
from pathlib import Path

from langcache import LangCache
from langcache.models import SearchStrategy

from semcache.testing.server import ServerProcess


def client(server: ServerProcess) -> LangCache:
    values = server.quickstart
    return LangCache(server_url=server.url, cache_id=values["CACHE_ID"], api_key=values["API_KEY"])


def test_entries_survive_a_restart(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "data") as server, client(server) as cache:
        cache.set(prompt="How tall is Mount Everest?", response="8,849 m")
        cache.set(prompt="Who discovered penicillin?", response="Fleming", attributes={"a": "b"})
        server.restart()
        exact = cache.search(
            prompt="how tall is mount everest?", search_strategies=[SearchStrategy.EXACT]
        )
        assert [hit.response for hit in exact.data] == ["8,849 m"]
        semantic = cache.search(
            prompt="What is the height of Mount Everest?", similarity_threshold=0.7
        )
        assert [hit.response for hit in semantic.data] == ["8,849 m"]
        assert cache.search(prompt="Who discovered penicillin?", attributes={"a": "b"}).data


def test_kill_9_right_after_acknowledged_writes_loses_nothing(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        with client(server) as cache:
            stored = write_then_delete(cache)
        server.kill()
        server.start()
        with client(server) as cache:
            for prompt, entry_id in stored.items():
                found = cache.search(
                    prompt=prompt, search_strategies=[SearchStrategy.EXACT, SearchStrategy.SEMANTIC]
                )
                ids = [hit.id for hit in found.data if hit.prompt == prompt]
                assert ids == ([] if entry_id is None else [entry_id]), prompt
    finally:
        server.stop()


def write_then_delete(cache: LangCache) -> dict[str, str | None]:
    """Stores 40 entries and deletes 10; returns each prompt's ID, or None if deleted."""
    stored: dict[str, str | None] = {}
    for i in range(40):
        prompt = f"question number {i} about durability"
        stored[prompt] = cache.set(prompt=prompt, response=f"answer {i}").entry_id
    for prompt in list(stored)[:10]:
        cache.delete_by_id(entry_id=stored[prompt] or "")
        stored[prompt] = None
    return stored


def test_first_start_prints_the_quick_start_once(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    with server:
        first_log = server.log()
        values = server.quickstart
        assert set(values) >= {"HOST", "CACHE_ID", "API_KEY"}
        assert values["HOST"] == f"localhost:{server.port}"
        for name in ("HOST", "CACHE_ID", "API_KEY"):
            assert f"{name}={values[name]}" in first_log
        path = tmp_path / "data" / "quickstart.env"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "data" / "admin.key").stat().st_mode) == 0o600
        server.restart()
        later_log = server.log()[len(first_log) :]
        assert values["API_KEY"] not in later_log
        assert server.quickstart == values
        with client(server) as cache:
            assert cache.search(prompt="anything").data == []
