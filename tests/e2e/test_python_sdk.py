"""The official Python SDK (``langcache`` from PyPI) against a real server process."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from langcache import LangCache
from langcache.errors import (
    AuthenticationErrorResponseContent,
    BadRequestErrorResponseContent,
    ForbiddenErrorResponseContent,
    NotFoundErrorResponseContent,
    PayloadTooLargeErrorResponseContent,
)
from langcache.models import SearchStrategy

from semcache.testing.server import ServerProcess

NewCache = Callable[..., tuple[str, str]]


@pytest.fixture
def cache_and_key(new_cache: NewCache) -> tuple[str, str]:
    return new_cache()


@pytest.fixture
def lang_cache(server: ServerProcess, cache_and_key: tuple[str, str]) -> Iterator[LangCache]:
    cache_id, api_key = cache_and_key
    with LangCache(server_url=server.url, cache_id=cache_id, api_key=api_key) as client:
        yield client


def test_store_then_find_a_paraphrase(lang_cache: LangCache) -> None:
    stored = lang_cache.set(
        prompt="What is the capital of France?", response="Paris is the capital of France."
    )
    assert len(stored.entry_id) == 32
    found = lang_cache.search(prompt="What's the capital city of France?", similarity_threshold=0.7)
    [hit] = found.data
    assert hit.id == stored.entry_id
    assert hit.response == "Paris is the capital of France."
    assert hit.search_strategy == SearchStrategy.SEMANTIC
    assert 0.7 <= hit.similarity < 1.0
    miss = lang_cache.search(prompt="How do I bake sourdough bread?", similarity_threshold=0.7)
    assert miss.data == []


def test_both_strategies_and_max_results(lang_cache: LangCache) -> None:
    lang_cache.set(prompt="How do I reverse a list in Python?", response="list.reverse()")
    lang_cache.set(prompt="How can I reverse a Python list?", response="reversed(xs)")
    lang_cache.set(prompt="What is the best pizza topping?", response="basil")
    found = lang_cache.search(
        prompt="how do i reverse a list in python?",
        search_strategies=[SearchStrategy.EXACT, SearchStrategy.SEMANTIC],
        similarity_threshold=0.6,
        max_results=3,
    )
    assert [(h.response, h.search_strategy) for h in found.data] == [
        ("list.reverse()", SearchStrategy.EXACT),
        ("reversed(xs)", SearchStrategy.SEMANTIC),
    ]
    assert found.data[0].similarity == 1.0
    exact_only = lang_cache.search(
        prompt="How can I reverse a list?", search_strategies=[SearchStrategy.EXACT]
    )
    assert exact_only.data == []
    assert (
        len(lang_cache.search(prompt="reverse a list in Python", similarity_threshold=0.5).data)
        == 1
    )


def test_attributes_scope_search_and_delete(lang_cache: LangCache) -> None:
    prompt = "Recommend a good book"
    lang_cache.set(prompt=prompt, response="Dune", attributes={"user": "ann", "lang": "en"})
    lang_cache.set(
        prompt=prompt, response="Le Petit Prince", attributes={"user": "bob", "lang": "fr"}
    )
    only_bob = lang_cache.search(prompt=prompt, attributes={"user": "bob"}, max_results=5)
    assert [hit.response for hit in only_bob.data] == ["Le Petit Prince"]
    assert only_bob.data[0].attributes == {"user": "bob", "lang": "fr"}
    deleted = lang_cache.delete_query(attributes={"user": "ann"})
    assert deleted.deleted_entries_count == 1
    assert [h.response for h in lang_cache.search(prompt=prompt, max_results=5).data] == [
        "Le Petit Prince"
    ]


def test_ttl_expiry(lang_cache: LangCache) -> None:
    lang_cache.set(prompt="What time is it now?", response="noon", ttl_millis=1500)
    assert lang_cache.search(prompt="What time is it now?").data
    time.sleep(2.0)
    assert lang_cache.search(prompt="What time is it now?").data == []


def test_delete_by_id_and_flush(lang_cache: LangCache) -> None:
    first = lang_cache.set(prompt="first question", response="1").entry_id
    lang_cache.set(prompt="second question", response="2")
    lang_cache.delete_by_id(entry_id=first)
    assert (
        lang_cache.search(prompt="first question", search_strategies=[SearchStrategy.EXACT]).data
        == []
    )
    lang_cache.flush()
    assert lang_cache.search(prompt="second question").data == []


def test_conversational_search_without_a_rewriter(lang_cache: LangCache) -> None:
    lang_cache.set(prompt="How do I sort a dict by value in Python?", response="sorted(...)")
    found = lang_cache.conversational_search(
        prompt="How do I sort a dict by value in Python?",
        context=["I am learning Python"],
        similarity_threshold=0.9,
    )
    assert found.actual_prompt == "How do I sort a dict by value in Python?"
    assert [hit.response for hit in found.data] == ["sorted(...)"]


@pytest.mark.anyio
async def test_every_method_async(server: ServerProcess, cache_and_key: tuple[str, str]) -> None:
    cache_id, api_key = cache_and_key
    async with LangCache(server_url=server.url, cache_id=cache_id, api_key=api_key) as client:
        await exercise_async(client)


async def exercise_async(lang_cache: LangCache) -> None:
    stored = await lang_cache.set_async(
        prompt="Who wrote Hamlet?", response="Shakespeare", attributes={"kind": "lit"}
    )
    found = await lang_cache.search_async(prompt="Who wrote Hamlet?", attributes={"kind": "lit"})
    assert [hit.id for hit in found.data] == [stored.entry_id]
    talk = await lang_cache.conversational_search_async(prompt="Who wrote Hamlet?", context=[])
    assert talk.actual_prompt == "Who wrote Hamlet?" and len(talk.data) == 1
    await lang_cache.delete_by_id_async(entry_id=stored.entry_id)
    await lang_cache.set_async(prompt="Who painted the Mona Lisa?", response="Leonardo")
    counted = await lang_cache.delete_query_async(attributes={"kind": "lit"})
    assert counted.deleted_entries_count == 0
    await lang_cache.flush_async()
    assert (await lang_cache.search_async(prompt="Who painted the Mona Lisa?")).data == []


def test_errors_arrive_as_typed_exceptions(
    server: ServerProcess, new_cache: NewCache, lang_cache: LangCache
) -> None:
    with pytest.raises(BadRequestErrorResponseContent) as bad:
        lang_cache.search(prompt="x", similarity_threshold=1.5)
    assert bad.value.status_code == 400 and "similarityThreshold" in str(bad.value)
    with pytest.raises(BadRequestErrorResponseContent, match="cannot be blank"):
        lang_cache.delete_query(attributes={})

    cache_id = lang_cache.sdk_configuration.globals.cache_id
    with (
        LangCache(server_url=server.url, cache_id=cache_id) as nobody,
        pytest.raises(AuthenticationErrorResponseContent),
    ):
        nobody.search(prompt="x")

    _, other_key = new_cache()
    with (
        LangCache(server_url=server.url, cache_id=cache_id, api_key=other_key) as intruder,
        pytest.raises(ForbiddenErrorResponseContent),
    ):
        intruder.search(prompt="x")

    with pytest.raises(NotFoundErrorResponseContent):
        lang_cache.delete_by_id(entry_id="0" * 32)

    with pytest.raises(PayloadTooLargeErrorResponseContent):
        lang_cache.set(prompt="big", response="x" * 2_000_000)
