from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from semcache.embedding._sessions import SessionPool
from semcache.embedding.onnx import DEFAULT_MODEL_DIR
from semcache.errors import ConfigError

MODEL = DEFAULT_MODEL_DIR / "model.onnx"


class NamedSession:
    """Stands for an ONNX Runtime session: answers its name, held until ``release`` is set."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def run(self, outputs: list[str], feed: dict[str, Any]) -> list[Any]:
        self.entered.set()
        assert self.release.wait(10)
        return [self.name]


def fake_pool() -> tuple[SessionPool, NamedSession]:
    spread = NamedSession("spread")
    sessions = [NamedSession("one"), NamedSession("two")]
    return SessionPool(sessions, thread_name="test", spread=spread), spread


def test_a_lone_call_is_spread_over_the_cores() -> None:
    pool, _ = fake_pool()
    assert [pool.run([], {})[0] for _ in range(3)] == ["spread"] * 3


def test_calls_beside_a_running_one_take_single_threaded_sessions() -> None:
    pool, spread = fake_pool()
    spread.release.clear()
    first = threading.Thread(target=pool.run, args=([], {}))
    first.start()
    assert spread.entered.wait(10)
    assert {pool.run([], {})[0] for _ in range(4)} <= {"one", "two"}
    spread.release.set()
    first.join()


def test_calls_one_at_a_time_all_run_on_the_session_used_last() -> None:
    one, two = NamedSession("one"), NamedSession("two")
    pool = SessionPool([one, two], thread_name="test")
    lone = [pool.run([], {})[0] for _ in range(4)]
    assert len(set(lone)) == 1
    held = one if lone[0] == "one" else two
    held.release.clear()
    first = threading.Thread(target=pool.run, args=([], {}))
    first.start()
    assert held.entered.wait(10)
    assert pool.run([], {})[0] != held.name
    held.release.set()
    first.join()


@pytest.mark.anyio
async def test_calls_run_side_by_side_on_one_thread_each() -> None:
    pool = SessionPool.load(MODEL, 2, thread_name="test")
    both = threading.Barrier(2, timeout=10)  # broken unless two calls run at once

    def work() -> str:
        both.wait()
        return threading.current_thread().name

    try:
        names = await asyncio.gather(pool.call(work), pool.call(work))
        assert pool.size == 2 and len(set(names)) == 2
    finally:
        pool.close()


def test_sessions_are_single_threaded_but_the_spreading_one() -> None:
    pool = SessionPool.load(MODEL, 2, thread_name="test")
    options = pool.first.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
    assert pool._spread is not None
    every_core = 0 if os.cpu_count() == 2 else 2  # 0: ONNX Runtime's own, pinned, choice
    assert pool._spread.get_session_options().intra_op_num_threads == every_core
    assert SessionPool.load(MODEL, 1, thread_name="test")._spread is None
    assert SessionPool.load(MODEL, 2, thread_name="test", spread=False)._spread is None
    pool.close()


def test_size_below_one_and_an_unloadable_model_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="threads must be at least 1, got 0"):
        SessionPool.load(MODEL, 0, thread_name="test")
    broken = tmp_path / "model.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="ONNX Runtime cannot load"):
        SessionPool.load(broken, 1, thread_name="test")
