"""The cache service with a verifier: what a hit is and what its similarity means."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from semcache.core.admin import CacheSpec
from semcache.core.models import NewEntry, SearchQuery, Strategy
from semcache.core.services import Services
from semcache.embedding.registry import EmbedderRegistry
from semcache.embedding.verifier import VerifierRegistry
from semcache.errors import EmbeddingError, InvalidRequest
from semcache.store.base import CacheConfig
from semcache.store.registry import open_store
from semcache.testing.fakes import FakeEmbedder, FakeVerifier

pytestmark = pytest.mark.anyio


@pytest.fixture
def verifier() -> FakeVerifier:
    return FakeVerifier(
        {("cat~1", "dog"): 0.97, ("cat", "cat~3"): 0.2}, default=0.1, default_threshold=0.6
    )


@pytest.fixture
async def services(tmp_path: Path, verifier: FakeVerifier) -> AsyncIterator[Services]:
    embedders = EmbedderRegistry()
    embedders.register("fake", FakeEmbedder())
    verifiers = VerifierRegistry(models_dir=tmp_path / "no-models")
    verifiers.register("fv", verifier)
    store = await open_store(str(tmp_path / "store"))
    built = Services.build(
        store, embedders, default_embedder="fake", verifiers=verifiers, default_verifier="fv"
    )
    yield built
    await built.close()


async def put(services: Services, cache: CacheConfig, *prompts: str) -> None:
    for prompt in prompts:
        await services.cache.put(cache, NewEntry(prompt, f"answer to {prompt}"))


async def search(services: Services, cache: CacheConfig, prompt: str, **kwargs: object):
    return (await services.cache.search(cache, SearchQuery(prompt, **kwargs))).hits  # type: ignore[arg-type]


async def test_the_verifiers_score_is_the_similarity(services, verifier) -> None:
    cache = await services.admin.create(CacheSpec())
    await put(services, cache, "cat")
    [hit] = await search(services, cache, "cat~1")  # cosine 0.96; the verifier says 1.0
    assert hit.similarity == 1.0 and hit.strategy is Strategy.SEMANTIC
    assert not await search(services, cache, "cat~3")  # the verifier says 0.2
    assert services.cache.threshold_for(cache) == 0.6
    assert await search(services, cache, "cat~3", threshold=0.2)
    assert verifier.batches[0] == [("cat~1", "cat")]


async def test_a_verifier_can_find_a_hit_below_the_best_cosine(services, verifier) -> None:
    verifier.scores[("cat", "cat~1")] = 0.1
    cache = await services.admin.create(CacheSpec())
    await put(services, cache, "cat~1", "cat~2", "dog")
    [hit] = await search(services, cache, "cat")  # cosines: cat~1 0.96, cat~2 0.86
    assert (hit.entry.prompt, hit.similarity) == ("cat~2", 1.0)
    assert verifier.batches == [[("cat", "cat~1")], [("cat", "cat~2"), ("cat", "dog")]]


async def test_a_cache_can_switch_the_verifier_off(services, verifier) -> None:
    cache = await services.admin.create(CacheSpec(verifier="off", similarity_threshold=0.9))
    assert cache.options == {"verifier": "off"}
    await put(services, cache, "cat")
    [hit] = await search(services, cache, "cat~1")
    assert hit.similarity == pytest.approx(0.958, abs=1e-3)  # the cosine
    assert not await search(services, cache, "cat~2")  # cosine 0.857 < 0.9
    assert verifier.batches == []
    assert services.cache.threshold_for(cache) == 0.9


async def test_exact_hits_stay_one_and_skip_the_models(services, verifier) -> None:
    cache = await services.admin.create(CacheSpec())
    await put(services, cache, "bird")
    [hit] = await search(services, cache, "BIRD", strategies=(Strategy.EXACT, Strategy.SEMANTIC))
    assert (hit.similarity, hit.strategy) == (1.0, Strategy.EXACT)
    assert verifier.batches == []


async def test_verifier_names_are_checked_when_a_cache_is_made(services) -> None:
    assert (await services.admin.create(CacheSpec(verifier="fv"))).options == {"verifier": "fv"}
    assert (await services.admin.create(CacheSpec())).options == {}
    with pytest.raises(InvalidRequest, match="unknown verifier 'nope'"):
        await services.admin.create(CacheSpec(verifier="nope"))


async def test_a_verifier_that_is_not_loaded_is_an_embedding_error(services) -> None:
    cache = CacheConfig(
        id="x", name="", embedder="fake", created_at=0, options={"verifier": "gone"}
    )
    with pytest.raises(EmbeddingError, match="verifier 'gone'"):
        await search(services, cache, "cat")


async def test_without_verifiers_hits_are_decided_by_cosine(tmp_path: Path) -> None:
    embedders = EmbedderRegistry()
    embedders.register("fake", FakeEmbedder())
    store = await open_store(str(tmp_path))
    services = Services.build(store, embedders, default_embedder="fake")
    cache = await services.admin.create(CacheSpec())
    assert services.cache.verifier_for(cache) is None
    await services.close()
