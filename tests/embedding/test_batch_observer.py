from __future__ import annotations

import asyncio

import pytest

from semcache.embedding.registry import DEFAULT_EMBEDDER, EmbedderRegistry

pytestmark = pytest.mark.anyio


async def test_every_model_call_is_told_its_size() -> None:
    registry = EmbedderRegistry(threads=1)
    sizes: list[int] = []
    registry.observe_batches(sizes.append)
    embedder = registry[DEFAULT_EMBEDDER]
    try:
        await embedder.embed(["one prompt"])
        await asyncio.gather(*(embedder.embed([f"prompt number {n}"]) for n in range(6)))
        await embedder.embed(["one prompt"])  # remembered: the model is not called
        assert sizes[0] == 1 and sum(sizes) == 7 and len(sizes) < 7
        later: list[int] = []
        registry.observe_batches(later.append)
        await embedder.embed(["another prompt"])
        assert later == [1]
    finally:
        await registry.close()
