from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from semcache.embedding._sessions import SessionPool
from semcache.embedding.onnx import DEFAULT_MODEL_DIR
from semcache.errors import ConfigError

MODEL = DEFAULT_MODEL_DIR / "model.onnx"


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


def test_sessions_are_single_threaded() -> None:
    pool = SessionPool.load(MODEL, 1, thread_name="test")
    options = pool.first.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
    pool.close()


def test_size_below_one_and_an_unloadable_model_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="threads must be at least 1, got 0"):
        SessionPool.load(MODEL, 0, thread_name="test")
    broken = tmp_path / "model.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="ONNX Runtime cannot load"):
        SessionPool.load(broken, 1, thread_name="test")
