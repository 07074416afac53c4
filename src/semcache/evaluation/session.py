"""One `semcache eval` run: a throw-away cache per decision, its pairs scored, replayed."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from semcache.core.admin import CacheSpec
from semcache.core.services import Services
from semcache.embedding.registry import EmbedderRegistry
from semcache.embedding.verifier import VERIFIER_OFF, VerifierRegistry
from semcache.evaluation.data import DEFAULT_COLUMNS, LabelledPair, read_pairs
from semcache.evaluation.report import PairReport, summarize
from semcache.evaluation.runner import PairScores, ReplayReport, replay, score_pairs
from semcache.store.base import CacheConfig
from semcache.store.registry import open_store

__all__ = ["EvalOptions", "EvalResult", "ProgressFactory", "evaluate"]

ProgressFactory = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]
"""Given a label and a total, a context giving a function that advances a progress bar."""


@dataclass(frozen=True, slots=True)
class EvalOptions:
    """What to evaluate; ``None`` takes the server's defaults (settings, calibration)."""

    path: Path
    embedder: str
    verifier: str
    columns: tuple[str, str, str] = DEFAULT_COLUMNS
    threshold: float | None = None
    limit: int | None = None
    baseline: bool = False
    replay: bool = False
    timing_sample: int = 200
    threads: int | None = None


@dataclass(slots=True)
class Variant:
    """One decision evaluated: its report, scores and replay."""

    report: PairReport
    scores: PairScores
    replay: ReplayReport | None = None


@dataclass(slots=True)
class EvalResult:
    pairs: list[LabelledPair]
    variants: list[Variant] = field(default_factory=list)


@contextlib.asynccontextmanager
async def _services(options: EvalOptions) -> AsyncIterator[Services]:
    with tempfile.TemporaryDirectory(prefix="semcache-eval-") as directory:
        store = await open_store(directory)
        services = Services.build(
            store,
            EmbedderRegistry(threads=options.threads, prompt_cache_size=0),
            default_embedder=options.embedder,
            verifiers=VerifierRegistry(threads=options.threads),
            default_verifier=options.verifier,
        )
        try:
            yield services
        finally:
            await services.close()


def describe(services: Services, cache: CacheConfig) -> str:
    """How the cache decides hits, in words."""
    judge = services.cache.judge_for(cache)
    threshold = services.cache.threshold_for(cache)
    source = "given" if cache.similarity_threshold is not None else "calibrated default"
    if judge.verifier is None:
        return (
            f"embedder {judge.embedder.name}, cosine similarity, threshold {threshold:g} ({source})"
        )
    return (
        f"embedder {judge.embedder.name}, verifier {judge.verifier.name} on candidates with "
        f"cosine >= {judge.min_cosine:g}, threshold {threshold:g} ({source})"
    )


async def evaluate(options: EvalOptions, progress: ProgressFactory) -> EvalResult:
    """Score the file's pairs with the cache's decision (and, with ``baseline``, with cosine
    similarity alone), and replay them if asked.

    Raises:
        ConfigError: the file, the embedder or the verifier cannot be used.
    """
    pairs = read_pairs(options.path, columns=options.columns, limit=options.limit)
    result = EvalResult(pairs)
    verifiers = [options.verifier]
    if options.baseline and options.verifier != VERIFIER_OFF:
        verifiers.append(VERIFIER_OFF)
    async with _services(options) as services:
        for verifier in verifiers:
            result.variants.append(await _variant(services, options, pairs, verifier, progress))
    return result


async def _variant(
    services: Services,
    options: EvalOptions,
    pairs: list[LabelledPair],
    verifier: str,
    progress: ProgressFactory,
) -> Variant:
    spec = CacheSpec(
        name="eval",
        embedder=options.embedder,
        verifier=verifier,
        # A threshold given for the verifier's score means nothing for cosine similarity.
        similarity_threshold=options.threshold if verifier == options.verifier else None,
    )
    cache = await services.admin.create(spec)
    judge = services.cache.judge_for(cache)
    threshold = services.cache.threshold_for(cache)
    label = "scoring pairs" if verifier != VERIFIER_OFF else "scoring pairs, cosine only"
    with progress(label, len(pairs)) as advance:
        scored = await score_pairs(
            pairs, judge, timing_sample=options.timing_sample, progress=advance
        )
    report = summarize(options.path.name, describe(services, cache), scored, threshold)
    variant = Variant(report, scored)
    if options.replay:
        empty = await services.admin.create(spec)
        with progress("replaying", len(pairs)) as advance:
            variant.replay = await replay(pairs, services.cache, empty, progress=advance)
    return variant
