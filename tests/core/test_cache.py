from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from semcache.core.admin import CacheSpec
from semcache.core.cache import entry_id_for
from semcache.core.models import UNSET, NewEntry, SearchQuery, Strategy
from semcache.core.services import Services
from semcache.embedding.registry import EmbedderRegistry
from semcache.errors import EntryNotFound, InvalidRequest
from semcache.store.base import CacheConfig
from semcache.store.registry import open_store
from semcache.testing.fakes import FakeEmbedder, ManualClock

pytestmark = pytest.mark.anyio

EXACT, SEMANTIC = Strategy.EXACT, Strategy.SEMANTIC


class EchoRewriter:
    async def rewrite(self, prompt: str, context: Sequence[str]) -> str:
        return f"{prompt} (after {context[-1]})"


@pytest.fixture
def clock() -> ManualClock[int]:
    return ManualClock(1_700_000_000_000)


@pytest.fixture
def fake() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
async def services(
    tmp_path: Path, clock: ManualClock[int], fake: FakeEmbedder
) -> AsyncIterator[Services]:
    embedders = EmbedderRegistry()
    embedders.register("fake", fake)
    store = await open_store(str(tmp_path))
    built = Services.build(
        store, embedders, default_embedder="fake", clock=clock, rewriter=EchoRewriter()
    )
    yield built
    await built.close()


@pytest.fixture
async def cache(services: Services) -> CacheConfig:
    return await services.admin.create(CacheSpec(name="test", similarity_threshold=0.9))


async def put(services: Services, cache: CacheConfig, prompt: str, **kwargs: object) -> str:
    return await services.cache.put(cache, NewEntry(prompt, f"answer to {prompt}", **kwargs))  # type: ignore[arg-type]


async def search(services: Services, cache: CacheConfig, prompt: str, **kwargs: object):
    result = await services.cache.search(cache, SearchQuery(prompt, **kwargs))  # type: ignore[arg-type]
    return result.hits


def test_entry_id_without_attributes_is_md5_of_prompt() -> None:
    assert entry_id_for("hello world", {}) == "5eb63bbbe01eeed093cb22bb8f5acdc3"
    assert entry_id_for("hello world", {}) == hashlib.md5(b"hello world").hexdigest()


def test_entry_id_depends_on_attributes_not_their_order() -> None:
    one = entry_id_for("q", {"a": "1", "b": "2"})
    assert one == entry_id_for("q", {"b": "2", "a": "1"})
    assert one != entry_id_for("q", {"a": "1"})
    assert one != entry_id_for("q", {})


async def test_storing_the_same_prompt_again_replaces_the_entry(services, cache) -> None:
    first = await services.cache.put(cache, NewEntry("What is Redis?", "old"))
    second = await services.cache.put(cache, NewEntry("What is Redis?", "new"))
    assert first == second
    hits = await search(services, cache, "What is Redis?")
    assert [hit.entry.response for hit in hits] == ["new"]
    assert await services.store.count(cache.id, now=services.cache.clock()) == 1


async def test_semantic_hit_needs_similarity_at_least_threshold(services, cache) -> None:
    await put(services, cache, "cat")
    [hit] = await search(services, cache, "CAT")
    assert hit.similarity == 1.0 and hit.strategy is SEMANTIC
    assert await search(services, cache, "cat~1", threshold=0.9)  # similarity about 0.96
    assert not await search(services, cache, "cat~2", threshold=0.9)  # about 0.86
    assert not await search(services, cache, "cat~2")  # the cache's 0.9 is the default
    assert await search(services, cache, "cat~2", threshold=0.8)


async def test_threshold_defaults_to_the_embedders(services) -> None:
    cache = await services.admin.create(CacheSpec())
    assert services.cache.threshold_for(cache) == FakeEmbedder.default_threshold


async def test_exact_strategy_ignores_case_and_never_embeds(services, cache, fake) -> None:
    await put(services, cache, "What is semantic caching?")
    calls = fake.calls
    [hit] = await search(services, cache, "WHAT IS SEMANTIC CACHING?", strategies=(EXACT,))
    assert (hit.similarity, hit.strategy) == (1.0, EXACT)
    assert not await search(services, cache, "What is semantic caching", strategies=(EXACT,))
    assert fake.calls == calls


async def test_exact_hits_come_first_then_semantic_without_repeats(services, cache) -> None:
    await put(services, cache, "dog")
    await put(services, cache, "dog~1")
    hits = await search(
        services, cache, "dog~1", strategies=(SEMANTIC, EXACT), max_results=5, threshold=0.5
    )
    assert [(h.entry.prompt, h.strategy) for h in hits] == [
        ("dog~1", EXACT),
        ("dog", SEMANTIC),
    ]


async def test_exact_hits_filling_max_results_skip_the_model(services, cache, fake) -> None:
    await put(services, cache, "bird")
    calls = fake.calls
    [hit] = await search(services, cache, "bird", strategies=(EXACT, SEMANTIC))
    assert hit.strategy is EXACT
    assert fake.calls == calls


async def test_max_results_cuts_best_first(services, cache) -> None:
    for prompt in ("fish", "fish~1", "fish~2", "fish~3"):
        await put(services, cache, prompt)
    hits = await search(services, cache, "fish", max_results=3, threshold=0.0)
    assert [hit.entry.prompt for hit in hits] == ["fish", "fish~1", "fish~2"]
    assert hits[0].similarity >= hits[1].similarity >= hits[2].similarity


@pytest.mark.parametrize("max_results", [0, -1, 101])
async def test_max_results_out_of_range_is_refused(services, cache, max_results) -> None:
    with pytest.raises(InvalidRequest, match="maxResults"):
        await search(services, cache, "x", max_results=max_results)


@pytest.mark.parametrize("threshold", [-0.1, 1.01])
async def test_threshold_out_of_range_is_refused(services, cache, threshold) -> None:
    with pytest.raises(InvalidRequest, match="similarityThreshold"):
        await search(services, cache, "x", threshold=threshold)


@pytest.mark.parametrize("prompt", ["", "   ", "x" * 1025])
async def test_bad_prompts_are_refused(services, cache, prompt) -> None:
    with pytest.raises(InvalidRequest, match="prompt"):
        await search(services, cache, prompt)
    with pytest.raises(InvalidRequest, match="prompt"):
        await put(services, cache, prompt)


async def test_attributes_filter_with_and_of_equalities(services, cache) -> None:
    await put(services, cache, "tea", attributes={"lang": "en", "topic": "drinks"})
    await put(services, cache, "tea", attributes={"lang": "fr", "topic": "drinks"})
    hits = await search(services, cache, "tea", attributes={"lang": "fr"}, max_results=5)
    assert [hit.entry.attributes["lang"] for hit in hits] == ["fr"]
    both = {"lang": "en", "topic": "drinks"}
    assert len(await search(services, cache, "tea", attributes=both, max_results=5)) == 1
    assert not await search(services, cache, "tea", attributes={"lang": "de"})


async def test_attribute_values_are_kept_byte_for_byte(services, cache) -> None:
    value = "a,b/c%2Fd ü  "
    await put(services, cache, "q", attributes={"k": value})
    [hit] = await search(services, cache, "q", attributes={"k": value})
    assert hit.entry.attributes == {"k": value}


async def test_declared_attributes_are_enforced(services) -> None:
    cache = await services.admin.create(CacheSpec(attributes=("lang",)))
    await put(services, cache, "q", attributes={"lang": "en"})
    with pytest.raises(InvalidRequest, match="'topic' is not declared") as caught:
        await put(services, cache, "q", attributes={"topic": "x"})
    assert caught.value.fields[0].field == "attributes.topic"
    with pytest.raises(InvalidRequest, match="not declared"):
        await search(services, cache, "q", attributes={"topic": "x"})


async def test_cache_without_attributes_says_none_are_configured(services) -> None:
    cache = await services.admin.create(CacheSpec(attributes=()))
    with pytest.raises(InvalidRequest, match="no attributes are configured"):
        await put(services, cache, "q", attributes={"lang": "en"})


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({f"a{i}": "v" for i in range(6)}, "at most 5"),
        ({"bad name": "v"}, "attribute names"),
        ({"x" * 33: "v"}, "attribute names"),
        ({"k": ""}, "cannot be blank"),
        ({"k": "v" * 501}, "at most 500"),
        ({"k": "a\x00b"}, "U\\+0000"),
    ],
)
async def test_malformed_attributes_are_refused(services, cache, attributes, message) -> None:
    with pytest.raises(InvalidRequest, match=message):
        await put(services, cache, "q", attributes=attributes)


async def test_no_text_may_hold_the_nul_character(services, cache) -> None:
    """PostgreSQL cannot store U+0000, so no store is given it: the same 400 on every store."""
    with pytest.raises(InvalidRequest, match=r"prompt: cannot contain the character U\+0000"):
        await put(services, cache, "a\x00b")
    with pytest.raises(InvalidRequest, match=r"response: cannot contain"):
        await services.cache.put(cache, NewEntry("q", "an answer\x00"))
    with pytest.raises(InvalidRequest, match=r"prompt: cannot contain"):
        await search(services, cache, "\x00q")
    with pytest.raises(InvalidRequest, match=r"context.0: cannot contain"):
        await search(services, cache, "q", context=("earlier\x00",))


async def test_ttl_from_request_then_cache_default(services, clock) -> None:
    cache = await services.admin.create(CacheSpec(ttl_millis=10_000, similarity_threshold=0.9))
    await put(services, cache, "short", ttl_millis=1_000)
    await put(services, cache, "default")
    await put(services, cache, "forever", ttl_millis=None)
    clock.now += 1_000
    assert not await search(services, cache, "short")
    assert not await search(services, cache, "short", strategies=(EXACT,))
    assert await search(services, cache, "default")
    clock.now += 9_000
    assert not await search(services, cache, "default")
    assert await search(services, cache, "forever")


@pytest.mark.parametrize("ttl", [0, -5, 31_556_952_001])
async def test_ttl_out_of_range_is_refused(services, cache, ttl) -> None:
    with pytest.raises(InvalidRequest, match="ttlMillis"):
        await put(services, cache, "q", ttl_millis=ttl)


async def test_unset_ttl_is_not_never(services, cache) -> None:
    assert NewEntry("p", "r").ttl_millis is UNSET


async def test_delete_by_id(services, cache) -> None:
    entry_id = await put(services, cache, "gone")
    await services.cache.delete(cache, entry_id)
    assert not await search(services, cache, "gone")
    with pytest.raises(EntryNotFound):
        await services.cache.delete(cache, entry_id)


@pytest.mark.parametrize("entry_id", ["not-hex", "ABCDEF" * 5 + "AB", "a" * 31, "../x"])
async def test_delete_with_malformed_id_is_refused(services, cache, entry_id) -> None:
    with pytest.raises(InvalidRequest, match="entryId"):
        await services.cache.delete(cache, entry_id)


async def test_delete_matching_counts_live_entries(services, cache, clock) -> None:
    await put(services, cache, "a", attributes={"user": "1"})
    await put(services, cache, "b", attributes={"user": "1"}, ttl_millis=10)
    await put(services, cache, "c", attributes={"user": "2"})
    clock.now += 10
    assert await services.cache.delete_matching(cache, {"user": "1"}) == 1
    assert await search(services, cache, "c", attributes={"user": "2"})


async def test_delete_matching_with_no_attributes_is_refused(services, cache) -> None:
    with pytest.raises(InvalidRequest, match="attributes: cannot be blank"):
        await services.cache.delete_matching(cache, {})


async def test_flush_empties_only_this_cache(services, cache) -> None:
    other = await services.admin.create(CacheSpec())
    await put(services, cache, "x")
    await put(services, other, "x")
    await services.cache.flush(cache)
    assert not await search(services, cache, "x")
    assert await search(services, other, "x")


async def test_conversational_search_searches_the_rewritten_prompt(services, cache) -> None:
    await put(services, cache, "and in Rust? (after How do I sort a list in Python?)")
    result = await services.cache.search(
        cache, SearchQuery("and in Rust?", context=("How do I sort a list in Python?",))
    )
    assert result.searched_prompt == "and in Rust? (after How do I sort a list in Python?)"
    assert len(result.hits) == 1
    plain = await services.cache.search(cache, SearchQuery("and in Rust?"))
    assert plain.searched_prompt == "and in Rust?"
