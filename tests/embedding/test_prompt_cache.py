from __future__ import annotations

import numpy as np
import pytest

from semcache.embedding.prompt_cache import PromptCache
from semcache.embedding.registry import EmbedderRegistry
from semcache.errors import ConfigError
from semcache.testing.fakes import FakeEmbedder


class CountingEmbedder(FakeEmbedder):
    def __init__(self) -> None:
        super().__init__(dimension=8)
        self.texts: list[str] = []

    async def _embed(self, texts: list[str]):
        self.texts += texts
        return await super()._embed(texts)


def vector(value: float) -> np.ndarray:
    return np.full(4, value, dtype=np.float32)


def test_least_recently_used_goes_first() -> None:
    cache = PromptCache(2)
    cache.put("a", vector(1))
    cache.put("b", vector(2))
    assert cache.get("a") is not None  # now "b" is the least recently used
    cache.put("c", vector(3))
    assert cache.get("b") is None
    assert cache.get("a") is not None and cache.get("c") is not None
    assert len(cache) == 2
    assert (cache.hits, cache.misses) == (3, 1)


def test_held_vectors_are_read_only_copies() -> None:
    cache = PromptCache(4)
    original = vector(1)
    cache.put("a", original)
    original[:] = 9
    held = cache.get("a")
    assert held is not None and held[0] == 1
    with pytest.raises(ValueError):
        held[0] = 2


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ConfigError):
        PromptCache(0)


@pytest.mark.anyio
async def test_repeated_prompts_skip_the_model() -> None:
    embedder = CountingEmbedder()
    embedder.prompt_cache = PromptCache(16)
    first = await embedder.embed(["cat", "dog"])
    again = await embedder.embed(["dog", "bird", "cat", "bird"])
    assert embedder.texts == ["cat", "dog", "bird"]  # "bird" once, though asked twice
    np.testing.assert_array_equal(again[[0, 2]], first[[1, 0]])
    np.testing.assert_array_equal(again[1], again[3])
    np.testing.assert_allclose(np.linalg.norm(again, axis=1), 1.0, atol=1e-6)


@pytest.mark.anyio
async def test_cached_answers_equal_fresh_ones_and_are_the_callers_to_change() -> None:
    cached, fresh = CountingEmbedder(), CountingEmbedder()
    cached.prompt_cache = PromptCache(16)
    await cached.embed(["cat"])
    hit = await cached.embed(["cat"])
    np.testing.assert_array_equal(hit, await fresh.embed(["cat"]))
    hit[0, :] = 0
    np.testing.assert_array_equal(await cached.embed(["cat"]), await fresh.embed(["cat"]))


@pytest.mark.anyio
async def test_without_a_prompt_cache_every_call_embeds() -> None:
    embedder = CountingEmbedder()
    await embedder.embed(["cat"])
    await embedder.embed(["cat"])
    assert embedder.texts == ["cat", "cat"]


def test_the_registry_gives_each_model_its_own_prompt_cache(tmp_path) -> None:
    assert EmbedderRegistry(prompt_cache_size=0)["all-MiniLM-L6-v2"].prompt_cache is None
    registry = EmbedderRegistry(prompt_cache_size=10)
    cache = registry["all-MiniLM-L6-v2"].prompt_cache
    assert cache is not None and cache.capacity == 10
    with pytest.raises(ConfigError):
        EmbedderRegistry(prompt_cache_size=-1)
