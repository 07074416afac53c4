"""What the cache service tells its observer, and how it explains a search."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from semcache.core.admin import CacheSpec
from semcache.core.models import NewEntry, SearchQuery, Strategy
from semcache.core.observer import Decision, ObserverGroup, SearchTrace, Stage
from semcache.core.services import Services
from semcache.embedding.registry import EmbedderRegistry
from semcache.embedding.verifier import VerifierRegistry
from semcache.store.base import CacheConfig
from semcache.store.registry import open_store
from semcache.testing.fakes import FakeEmbedder, FakeVerifier
from semcache.types import CacheId

pytestmark = pytest.mark.anyio

EXACT, SEMANTIC = Strategy.EXACT, Strategy.SEMANTIC


class Recording:
    def __init__(self) -> None:
        self.searches: list[tuple[CacheId, SearchTrace]] = []
        self.changes: list[CacheId] = []

    def searched(self, cache_id: CacheId, trace: SearchTrace) -> None:
        self.searches.append((cache_id, trace))

    def changed(self, cache_id: CacheId) -> None:
        self.changes.append(cache_id)


async def _services(tmp_path: Path, verifier: FakeVerifier | None = None) -> Services:
    embedders = EmbedderRegistry()
    embedders.register("fake", FakeEmbedder())
    verifiers = VerifierRegistry(models_dir=tmp_path / "no-models")
    if verifier is not None:
        verifiers.register("fv", verifier)
    store = await open_store(str(tmp_path / "store"))
    return Services.build(
        store,
        embedders,
        default_embedder="fake",
        verifiers=verifiers,
        default_verifier="fv" if verifier else "off",
    )


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    built = await _services(tmp_path)
    yield built
    await built.close()


@pytest.fixture
async def cache(services: Services) -> CacheConfig:
    cache = await services.admin.create(CacheSpec(similarity_threshold=0.9))
    for prompt in ("cat", "cat~2", "dog"):
        await services.cache.put(cache, NewEntry(prompt, f"answer to {prompt}"))
    return cache


async def test_each_search_is_traced(services: Services, cache: CacheConfig) -> None:
    recording = Recording()
    services.cache.observer = ObserverGroup(recording)
    await services.cache.search(cache, SearchQuery("cat~1"))
    await services.cache.search(cache, SearchQuery("CAT", strategies=(EXACT, SEMANTIC)))
    await services.cache.search(cache, SearchQuery("fish"))
    hit, exact, miss = (trace for _, trace in recording.searches)
    assert hit.hit and hit.lookups == [(SEMANTIC, True)] and hit.threshold == 0.9
    assert hit.nearest == pytest.approx(0.958, abs=1e-3)
    assert set(hit.stage_seconds) == {Stage.EMBEDDING, Stage.SEARCH, Stage.VERIFICATION}
    assert hit.seconds >= sum(hit.stage_seconds.values()) > 0
    assert exact.hit and exact.lookups == [(EXACT, True)] and exact.nearest is None
    assert set(exact.stage_seconds) == {Stage.SEARCH}
    assert not miss.hit and miss.lookups == [(SEMANTIC, False)] and miss.nearest is not None
    assert hit.candidates == []  # only an explained search keeps them


async def test_changes_of_entries_are_told(services: Services, cache: CacheConfig) -> None:
    recording = Recording()
    services.cache.observer = recording
    entry_id = await services.cache.put(cache, NewEntry("bird", "tweet", attributes={"a": "1"}))
    await services.cache.delete(cache, entry_id)
    await services.cache.delete_matching(cache, {"a": "2"})
    await services.cache.flush(cache)
    assert recording.changes == [cache.id] * 4


async def test_explain_decides_as_the_search_does_and_is_not_observed(
    services: Services, cache: CacheConfig
) -> None:
    recording = Recording()
    services.cache.observer = recording
    query = SearchQuery("cat~1", strategies=(EXACT, SEMANTIC), max_results=2)
    result, trace = await services.cache.explain(cache, query, show=3)
    assert result == await services.cache.search(cache, query)
    assert len(recording.searches) == 1
    decisions = [(c.entry.prompt, c.strategy, c.decision) for c in trace.candidates]
    assert decisions == [
        ("cat", SEMANTIC, Decision.HIT),
        ("cat~2", SEMANTIC, Decision.BELOW_THRESHOLD),
        ("dog", SEMANTIC, Decision.NOT_CONSIDERED),
    ]
    assert trace.candidates[0].similarity == trace.candidates[0].cosine
    assert trace.candidates[2].similarity is None and trace.candidates[2].cosine is not None


async def test_explain_marks_exact_hits_and_the_results_left_out(
    services: Services, cache: CacheConfig
) -> None:
    query = SearchQuery("cat", strategies=(EXACT, SEMANTIC), max_results=1, threshold=0.1)
    _, trace = await services.cache.explain(cache, query, show=2)
    decisions = [(c.entry.prompt, c.strategy, c.decision) for c in trace.candidates]
    assert decisions == [("cat", EXACT, Decision.HIT)]  # exact filled maxResults
    query = SearchQuery("cat", strategies=(EXACT, SEMANTIC), max_results=2, threshold=0.0)
    _, trace = await services.cache.explain(cache, query, show=3)
    decisions = [(c.entry.prompt, c.strategy, c.decision) for c in trace.candidates]
    assert decisions[:3] == [
        ("cat", EXACT, Decision.HIT),
        ("cat", SEMANTIC, Decision.ALREADY_FOUND),
        ("cat~2", SEMANTIC, Decision.HIT),
    ]
    assert decisions[3] == ("dog", SEMANTIC, Decision.BEYOND_MAX_RESULTS)


async def test_with_a_verifier_the_nearest_is_its_score(tmp_path: Path) -> None:
    verifier = FakeVerifier({("cat~1", "cat"): 0.4}, default=0.1, default_threshold=0.6)
    services = await _services(tmp_path, verifier)
    try:
        cache = await services.admin.create(CacheSpec())
        for prompt in ("cat", "dog"):
            await services.cache.put(cache, NewEntry(prompt, "x"))
        recording = Recording()
        services.cache.observer = recording
        await services.cache.search(cache, SearchQuery("cat~1"))
        [(_, trace)] = recording.searches
        assert not trace.hit and trace.nearest == 0.4 and trace.threshold == 0.6
        _, explained = await services.cache.explain(cache, SearchQuery("cat~1"), show=5)
        assert [(c.entry.prompt, c.similarity, c.decision) for c in explained.candidates] == [
            ("cat", 0.4, Decision.BELOW_THRESHOLD),
            ("dog", 0.1, Decision.BELOW_THRESHOLD),
        ]
    finally:
        await services.close()
