"""The SQLite store across processes: shared directories and SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from semcache.store.sqlite import DEFAULT_HNSW_THRESHOLD, SQLiteStore
from tests.store._sqlite_helpers import (
    NOW,
    Vectors,
    fill,
    make_entry,
    new_store,
    top_id,
    unit_vectors,
)

pytestmark = pytest.mark.anyio


_WORKER = r"""
import asyncio, json, sys
import numpy as np
from semcache.store.base import Entry
from semcache.store.sqlite import SQLiteStore

async def run(store, command):
    op = command.pop("op")
    if op == "put":
        vector = np.array(command.pop("vector"), dtype=np.float32)
        entry = Entry("c", command["id"], command["id"], "r", {}, created_at=1, vector=vector)
        return await store.put(entry)
    if op == "delete":
        return await store.delete("c", command["id"], now=2)
    if op == "clear":
        return await store.clear("c")
    vector = np.array(command["vector"], dtype=np.float32)
    found = await store.search("c", vector, attributes={}, now=2, limit=1)
    return [match.entry.id for match in found]

async def main(directory, threshold):
    store = await SQLiteStore.open(directory, hnsw_threshold=threshold)
    loop = asyncio.get_running_loop()
    try:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            print(json.dumps(await run(store, json.loads(line))), flush=True)
    finally:
        await store.close()

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


class _Worker:
    """Another process with its own SQLiteStore over the same directory."""

    def __init__(self, directory: Path, threshold: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(directory), str(threshold)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def __call__(self, op: str, **arguments: Any) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        if isinstance(arguments.get("vector"), np.ndarray):
            arguments["vector"] = arguments["vector"].tolist()
        self.process.stdin.write(json.dumps({"op": op, **arguments}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, "the worker process died"
        return json.loads(line)

    def close(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=20)
        finally:
            self.process.kill()
            self.process.stdout.close()


@contextlib.contextmanager
def _worker(directory: Path, threshold: int) -> Iterator[_Worker]:
    spawned = _Worker(directory, threshold)
    try:
        yield spawned
    finally:
        spawned.close()


@pytest.mark.parametrize("threshold", [DEFAULT_HNSW_THRESHOLD, 0], ids=["exact", "hnsw"])
async def test_two_processes_see_each_others_writes_at_once(tmp_path: Path, threshold: int) -> None:
    vectors = unit_vectors(24)
    store = await new_store(tmp_path, hnsw_threshold=threshold)
    with _worker(tmp_path, threshold) as worker:
        await _exchange_writes(store, worker, vectors)


async def _exchange_writes(store: SQLiteStore, worker: _Worker, vectors: Vectors) -> None:
    try:
        await fill(store, vectors[:20])
        assert await top_id(store, vectors[0]) == "e0"
        assert worker("search", vector=vectors[1]) == ["e1"]

        worker("put", id="theirs", vector=vectors[20])
        assert await top_id(store, vectors[20]) == "theirs"
        await store.put(make_entry(21, vectors[21], id="mine"))
        assert worker("search", vector=vectors[21]) == ["mine"]

        assert worker("delete", id="mine") is True
        assert await store.get("c", "mine", now=NOW) is None
        assert await top_id(store, vectors[21]) != "mine"
        assert await store.delete("c", "theirs", now=NOW) is True
        assert worker("search", vector=vectors[20]) != ["theirs"]

        assert worker("clear") == 20
        assert await store.count("c", now=NOW) == 0
        assert await top_id(store, vectors[0]) is None
        await store.put(make_entry(22, vectors[22]))
        assert worker("search", vector=vectors[0]) == ["e22"]
    finally:
        await store.close()


_PUTTER = r"""
import asyncio, sys
import numpy as np
from semcache.store.base import Entry
from semcache.store.sqlite import SQLiteStore

async def main(directory):
    store = await SQLiteStore.open(directory)
    vectors = np.random.default_rng(7).standard_normal((100_000, 16)).astype(np.float32)

    async def put(number):
        entry = Entry("c", f"e{number}", "p", "r", {}, created_at=number, vector=vectors[number])
        await store.put(entry)
        print(f"e{number}", flush=True)

    for start in range(0, len(vectors), 8):
        await asyncio.gather(*(put(number) for number in range(start, start + 8)))

asyncio.run(main(sys.argv[1]))
"""

_DELETER = r"""
import asyncio, sys
from semcache.store.sqlite import SQLiteStore

async def main(directory, count):
    store = await SQLiteStore.open(directory)
    for number in range(count):
        if await store.delete("c", f"e{number}", now=0):
            print(f"e{number}", flush=True)
    await asyncio.sleep(3600)  # wait to be killed

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def _acknowledged_then_killed(script: str, *arguments: str, wanted: int) -> list[str]:
    """Run ``script``, SIGKILL it once it has acknowledged ``wanted`` writes, and return
    every acknowledged ID (all those it printed before dying)."""
    process = subprocess.Popen(
        [sys.executable, "-c", script, *arguments], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    acknowledged: list[str] = []
    try:
        while len(acknowledged) < wanted:
            line = process.stdout.readline()
            assert line, "the writer exited before it was killed"
            acknowledged.append(line.strip())
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=20)
        acknowledged += [line.strip() for line in process.stdout.read().splitlines()]
    finally:
        process.kill()
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    return [name for name in acknowledged if name]


async def test_acknowledged_puts_survive_kill_9(tmp_path: Path) -> None:
    store = await new_store(tmp_path)
    await store.close()
    acknowledged = await asyncio.to_thread(
        _acknowledged_then_killed, _PUTTER, str(tmp_path), wanted=400
    )
    vectors = np.random.default_rng(7).standard_normal((100_000, 16)).astype(np.float32)
    store = await SQLiteStore.open(tmp_path)
    try:
        for entry_id in acknowledged:
            assert await store.get("c", entry_id, now=NOW) is not None, entry_id
        assert await store.count("c", now=NOW) >= len(acknowledged)
        for entry_id in acknowledged[::40]:
            vector = vectors[int(entry_id[1:])]
            assert await top_id(store, vector / np.linalg.norm(vector)) == entry_id
    finally:
        await store.close()


async def test_acknowledged_deletes_survive_kill_9(tmp_path: Path) -> None:
    vectors = unit_vectors(600)
    store = await new_store(tmp_path)
    await fill(store, vectors)
    await store.close()
    acknowledged = await asyncio.to_thread(
        _acknowledged_then_killed, _DELETER, str(tmp_path), "600", wanted=100
    )
    store = await SQLiteStore.open(tmp_path)
    try:
        assert await store.count("c", now=NOW) <= 600 - len(acknowledged)
        for entry_id in acknowledged:
            assert await store.get("c", entry_id, now=NOW) is None, entry_id
        for entry_id in acknowledged[::10]:
            assert await top_id(store, vectors[int(entry_id[1:])]) != entry_id
    finally:
        await store.close()
