"""The cache service: search strategies, thresholds, TTL, attributes rules and entry IDs."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

import orjson

from semcache.core import rules
from semcache.core.decision import Candidate, HitJudge, clamp_similarity
from semcache.core.models import (
    DEFAULT_LIMITS,
    Hit,
    Limits,
    NewEntry,
    SearchQuery,
    SearchResult,
    Strategy,
    Unset,
)
from semcache.core.observer import CacheObserver, NullObserver, SearchTrace, Stage
from semcache.embedding.base import Embedder
from semcache.embedding.verifier import VERIFIER_OFF, Verifier
from semcache.errors import EmbeddingError, EntryNotFound, InvalidRequest, SemcacheError
from semcache.rewriter import QueryRewriter
from semcache.store.base import CacheConfig, Entry, Match, Store
from semcache.types import Attributes, EntryId, Millis, Vector

__all__ = ["CacheService", "entry_id_for", "now_millis"]

_ENTRY_ID = re.compile(r"[0-9a-f]{32}")
T = TypeVar("T")


def now_millis() -> Millis:
    return time.time_ns() // 1_000_000


def entry_id_for(prompt: str, attributes: Attributes) -> EntryId:
    """The ID of the entry for this prompt and these attributes.

    With no attributes it is ``md5(prompt)``, as the managed LangCache service answers;
    otherwise the attributes, sorted, are part of what is hashed. Storing the same prompt
    with the same attributes again therefore replaces the entry.
    """
    material = prompt.encode()
    if attributes:
        material += b"\x00" + orjson.dumps(dict(sorted(attributes.items())))
    return hashlib.md5(material, usedforsecurity=False).hexdigest()


class CacheService:
    """Answers searches and stores, deletes and flushes entries of one cache at a time.

    The caller (the API) has already found the cache and checked the key; everything about
    what counts as a hit is decided here.
    """

    def __init__(
        self,
        store: Store,
        embedders: Mapping[str, Embedder],
        *,
        limits: Limits = DEFAULT_LIMITS,
        rewriter: QueryRewriter | None = None,
        clock: Callable[[], Millis] = now_millis,
        verifiers: Mapping[str, Verifier] | None = None,
        default_verifier: str = VERIFIER_OFF,
        observer: CacheObserver | None = None,
    ) -> None:
        self.observer: CacheObserver = NullObserver() if observer is None else observer
        self.store = store
        self.embedders = embedders
        self.verifiers: Mapping[str, Verifier] = {} if verifiers is None else verifiers
        self.default_verifier = default_verifier
        self.limits = limits
        self.rewriter = rewriter
        self.clock = clock

    def embedder_for(self, cache: CacheConfig) -> Embedder:
        try:
            return self.embedders[cache.embedder]
        except KeyError:
            raise EmbeddingError(
                f"cache {cache.id} uses embedder {cache.embedder!r}, which is not loaded"
            ) from None

    def verifier_for(self, cache: CacheConfig) -> Verifier | None:
        """The cache's verifier (its ``verifier`` option, else the default), or None if off."""
        name = cache.options.get("verifier", self.default_verifier)
        if name == VERIFIER_OFF:
            return None
        try:
            return self.verifiers[name]
        except KeyError:
            raise EmbeddingError(
                f"cache {cache.id} uses verifier {name!r}, which is not loaded"
            ) from None

    def judge_for(self, cache: CacheConfig) -> HitJudge:
        """What decides the cache's semantic hits: its embedder and its verifier, if any."""
        return HitJudge(self.embedder_for(cache), self.verifier_for(cache))

    def threshold_for(self, cache: CacheConfig, requested: float | None = None) -> float:
        """The request's threshold, else the cache's, else the one calibrated for its judge."""
        if requested is not None:
            return requested
        if cache.similarity_threshold is not None:
            return cache.similarity_threshold
        return self.judge_for(cache).default_threshold

    async def search(self, cache: CacheConfig, query: SearchQuery) -> SearchResult:
        """Exact hits first, then semantic hits best-first, no entry twice, at most
        ``query.max_results``. Semantic search is skipped when exact hits already fill it."""
        trace = SearchTrace()
        result = await self._search(cache, query, trace)
        self.observer.searched(cache.id, trace)
        return result

    async def explain(
        self, cache: CacheConfig, query: SearchQuery, *, show: int = 10
    ) -> tuple[SearchResult, SearchTrace]:
        """Run the search as `search` does, and also say what it made of each candidate:
        the trace's ``candidates`` hold every candidate it weighed and at least ``show``
        semantic ones, those it would not have looked at marked so. Not observed."""
        trace = SearchTrace(show=show)
        return await self._search(cache, query, trace), trace

    async def _search(
        self, cache: CacheConfig, query: SearchQuery, trace: SearchTrace
    ) -> SearchResult:
        self._check_query(cache, query)
        prompt = await self._standalone_prompt(query)
        hits: list[Hit] = []
        if Strategy.EXACT in query.strategies:
            hits = await self._exact_hits(cache, prompt, query, trace)
        if Strategy.SEMANTIC in query.strategies and len(hits) < query.max_results:
            seen = {hit.entry.id for hit in hits}
            semantic = await self._semantic_hits(cache, prompt, query, trace, exclude=len(seen))
            hits += [hit for hit in semantic if hit.entry.id not in seen]
        result = SearchResult(hits=hits[: query.max_results], searched_prompt=prompt)
        trace.finish([(hit.strategy, hit.entry.id) for hit in result.hits])
        return result

    async def put(self, cache: CacheConfig, new: NewEntry) -> EntryId:
        """Store a prompt and its response; returns the entry ID (see `entry_id_for`)."""
        rules.check_prompt(new.prompt, self.limits)
        rules.check_text(new.response, "response")
        rules.check_attributes(new.attributes, cache, self.limits)
        ttl = self._ttl_for(cache, new)
        vector = await self._embed(cache, new.prompt)
        now = self.clock()
        entry = Entry(
            cache_id=cache.id,
            id=entry_id_for(new.prompt, new.attributes),
            prompt=new.prompt,
            response=new.response,
            attributes=dict(new.attributes),
            created_at=now,
            expires_at=None if ttl is None else now + ttl,
            vector=vector,
        )
        await self.store.put(entry)
        self.observer.changed(cache.id)
        return entry.id

    async def delete(self, cache: CacheConfig, entry_id: str) -> None:
        """Delete one entry; an unknown or expired ID is `EntryNotFound`."""
        if not _ENTRY_ID.fullmatch(entry_id):
            raise InvalidRequest.for_field(
                "entryId", "pattern", "must be 32 lowercase hexadecimal characters"
            )
        if not await self.store.delete(cache.id, entry_id, now=self.clock()):
            raise EntryNotFound(entry_id)
        self.observer.changed(cache.id)

    async def delete_matching(self, cache: CacheConfig, attributes: Attributes) -> int:
        """Delete the entries carrying all these attributes; returns how many were live."""
        if not attributes:
            raise InvalidRequest.for_field("attributes", "required", "cannot be blank")
        rules.check_attributes(attributes, cache, self.limits)
        deleted = await self.store.delete_matching(cache.id, attributes, now=self.clock())
        self.observer.changed(cache.id)
        return deleted

    async def flush(self, cache: CacheConfig) -> int:
        """Delete every entry of the cache; returns how many there were."""
        cleared = await self.store.clear(cache.id)
        self.observer.changed(cache.id)
        return cleared

    def _ttl_for(self, cache: CacheConfig, new: NewEntry) -> Millis | None:
        if isinstance(new.ttl_millis, Unset):
            return cache.ttl_millis
        if new.ttl_millis is not None:
            rules.check_ttl(new.ttl_millis, self.limits)
        return new.ttl_millis

    def _check_query(self, cache: CacheConfig, query: SearchQuery) -> None:
        rules.check_prompt(query.prompt, self.limits)
        rules.check_threshold(query.threshold)
        rules.check_max_results(query.max_results, self.limits)
        rules.check_attributes(query.attributes, cache, self.limits)
        if not query.strategies:
            raise InvalidRequest.for_field(
                "searchStrategies", "min_items", "give at least one strategy"
            )
        if len(query.context) > self.limits.max_context_items:
            raise InvalidRequest.for_field(
                "context", "max_items", f"at most {self.limits.max_context_items} items"
            )
        for index, earlier in enumerate(query.context):
            rules.check_prompt(earlier, self.limits, field=f"context.{index}")

    async def _standalone_prompt(self, query: SearchQuery) -> str:
        if not query.context or self.rewriter is None:
            return query.prompt
        return await _as_embedding_error(self.rewriter.rewrite(query.prompt, query.context))

    async def _exact_hits(
        self, cache: CacheConfig, prompt: str, query: SearchQuery, trace: SearchTrace
    ) -> list[Hit]:
        with trace.timing(Stage.SEARCH):
            entries = await self.store.find_exact(
                cache.id,
                prompt,
                attributes=query.attributes,
                now=self.clock(),
                limit=query.max_results,
            )
        trace.lookups.append((Strategy.EXACT, bool(entries)))
        for entry in entries:
            trace.weigh(entry, Strategy.EXACT, similarity=1.0, passed=True)
        return [Hit(entry, 1.0, Strategy.EXACT) for entry in entries]

    async def _semantic_hits(
        self,
        cache: CacheConfig,
        prompt: str,
        query: SearchQuery,
        trace: SearchTrace,
        *,
        exclude: int,
    ) -> list[Hit]:
        threshold = trace.threshold = self.threshold_for(cache, query.threshold)
        judge = self.judge_for(cache)
        with trace.timing(Stage.EMBEDDING):
            vector = await self._embed(cache, prompt)
        wanted = query.max_results + exclude
        with trace.timing(Stage.SEARCH):
            matches = await self._neighbours(cache, vector, query, judge.candidate_count(wanted))
        candidates = [Candidate(prompt, m.entry.prompt, m.similarity) for m in matches]
        judged: dict[int, float] = {}
        with trace.timing(Stage.VERIFICATION):
            found = await _as_embedding_error(
                judge.hits(candidates, threshold=threshold, wanted=wanted, judged=judged)
            )
        trace.lookups.append((Strategy.SEMANTIC, bool(found)))
        passed = {index for index, _ in found}
        for index, match in enumerate(matches):
            trace.weigh(
                match.entry,
                Strategy.SEMANTIC,
                similarity=judged.get(index),
                cosine=clamp_similarity(match.similarity),
                passed=index in passed,
            )
        if trace.show > len(matches):
            await self._shown_only(cache, vector, query, trace, matches)
        return [Hit(matches[i].entry, similarity, Strategy.SEMANTIC) for i, similarity in found]

    async def _neighbours(
        self, cache: CacheConfig, vector: Vector, query: SearchQuery, limit: int
    ) -> list[Match]:
        return await self.store.search(
            cache.id, vector, attributes=query.attributes, now=self.clock(), limit=limit
        )

    async def _shown_only(
        self,
        cache: CacheConfig,
        vector: Vector,
        query: SearchQuery,
        trace: SearchTrace,
        matches: list[Match],
    ) -> None:
        """Candidates an explained search shows beyond those the search fetched: asked
        for separately, so that what the search decided is left exactly as it was."""
        fetched = {m.entry.id for m in matches}
        for match in await self._neighbours(cache, vector, query, trace.show):
            if match.entry.id not in fetched:
                cosine = clamp_similarity(match.similarity)
                trace.weigh(match.entry, Strategy.SEMANTIC, similarity=None, cosine=cosine)

    async def _embed(self, cache: CacheConfig, text: str) -> Vector:
        vectors = await _as_embedding_error(self.embedder_for(cache).embed([text]))
        vector: Vector = vectors[0]
        return vector


async def _as_embedding_error(call: Awaitable[T]) -> T:
    """Await a model call; a failure that is not already ours becomes `EmbeddingError`."""
    try:
        return await call
    except SemcacheError:
        raise
    except Exception as exc:
        raise EmbeddingError(f"the model failed: {exc}") from exc
