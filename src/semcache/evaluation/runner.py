"""Running labelled pairs through the cache's own hit decision.

`score_pairs` gives each pair the similarity a search would give the stored prompt ``a``
when ``b`` is searched: the pair is embedded by the cache's embedder and judged by
`semcache.core.decision.HitJudge`, the code `CacheService.search` runs. `replay` goes
further and streams prompts through a real `CacheService` and store, as an application
would: search first, store on a miss.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from semcache.core.cache import CacheService
from semcache.core.decision import Candidate, HitJudge
from semcache.core.models import NewEntry, SearchQuery
from semcache.errors import InvalidRequest
from semcache.evaluation.data import LabelledPair
from semcache.store.base import CacheConfig

__all__ = ["PairScores", "ReplayReport", "replay", "score_pairs"]

Progress = Callable[[int], None]
Array = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PairScores:
    """The similarity each pair gets, and how long deciding took.

    ``decision_millis`` times single decisions as a search makes them (embed the new
    prompt, compare it with the stored vector, judge); ``batch_seconds`` is the whole
    batched pass over every pair.
    """

    pairs: Sequence[LabelledPair]
    scores: Array
    cosines: Array
    decision_millis: list[float]
    batch_seconds: float

    @property
    def labels(self) -> list[int]:
        return [pair.label for pair in self.pairs]


def _chunks(items: Sequence[LabelledPair], size: int) -> Iterator[Sequence[LabelledPair]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def score_pairs(
    pairs: Sequence[LabelledPair],
    judge: HitJudge,
    *,
    batch_size: int = 256,
    timing_sample: int = 200,
    progress: Progress | None = None,
) -> PairScores:
    """Score every pair with ``judge``; time the first ``timing_sample`` pairs one by one."""
    millis = await _time_decisions(pairs[:timing_sample], judge)
    scores = np.empty(len(pairs), dtype=np.float64)
    cosines = np.empty(len(pairs), dtype=np.float64)
    started = time.perf_counter()
    done = 0
    for chunk in _chunks(pairs, batch_size):
        vectors = await judge.embedder.embed([p.a for p in chunk] + [p.b for p in chunk])
        chunk_cosines = (vectors[: len(chunk)] * vectors[len(chunk) :]).sum(axis=1)
        candidates = [
            Candidate(p.b, p.a, float(c)) for p, c in zip(chunk, chunk_cosines, strict=True)
        ]
        scores[done : done + len(chunk)] = await judge.similarities(candidates)
        cosines[done : done + len(chunk)] = chunk_cosines
        done += len(chunk)
        if progress is not None:
            progress(len(chunk))
    return PairScores(pairs, scores, cosines, millis, time.perf_counter() - started)


async def _time_decisions(sample: Sequence[LabelledPair], judge: HitJudge) -> list[float]:
    if not sample:
        return []
    stored = await judge.embedder.embed([pair.a for pair in sample])
    millis = []
    for pair, vector in zip(sample, stored, strict=True):
        started = time.perf_counter()
        [searched] = await judge.embedder.embed([pair.b])
        cosine = float(searched @ vector)
        await judge.similarities([Candidate(pair.b, pair.a, cosine)])
        millis.append((time.perf_counter() - started) * 1000)
    return millis


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """What an application streaming the prompts through the cache would have seen.

    A hit is ``correct`` when the stored prompt is known to mean the same as the searched
    one (the same text, or linked by duplicate labels), ``wrong`` when a pair labels them
    different, and ``unknown`` otherwise; `precision` counts unknown hits as wrong.
    """

    prompts: int
    hits: int
    correct: int
    wrong: int
    unknown: int
    skipped: int
    seconds: float

    @property
    def hit_ratio(self) -> float:
        return self.hits / self.prompts if self.prompts else 0.0

    @property
    def precision(self) -> float:
        return self.correct / self.hits if self.hits else 1.0

    @property
    def labelled_precision(self) -> float:
        """Precision over the hits whose pair has a label."""
        judged = self.correct + self.wrong
        return self.correct / judged if judged else 1.0


class _Groups:
    """Prompts linked by duplicate labels (a union-find), and pairs labelled different."""

    def __init__(self, pairs: Sequence[LabelledPair]) -> None:
        self._parent: dict[str, str] = {}
        self._different: set[frozenset[str]] = set()
        for pair in pairs:
            if pair.label:
                self._parent[self._root(pair.a)] = self._root(pair.b)
            else:
                self._different.add(frozenset((pair.a, pair.b)))

    def _root(self, text: str) -> str:
        root = text
        while self._parent.get(root, root) != root:
            root = self._parent[root]
        while text != root:  # compress the path for later look-ups
            self._parent[text], text = root, self._parent[text]
        return root

    def verdict(self, searched: str, stored: str) -> str:
        if searched == stored or self._root(searched) == self._root(stored):
            return "correct"
        if frozenset((searched, stored)) in self._different:
            return "wrong"
        return "unknown"


async def replay(
    pairs: Sequence[LabelledPair],
    service: CacheService,
    cache: CacheConfig,
    *,
    threshold: float | None = None,
    progress: Progress | None = None,
) -> ReplayReport:
    """Stream ``a`` then ``b`` of every pair into ``cache`` (best empty): search with the
    semantic strategy; on a miss, store the prompt. Prompts the cache refuses (too long,
    blank) are skipped."""
    groups = _Groups(pairs)
    counts = {"correct": 0, "wrong": 0, "unknown": 0}
    prompts = skipped = 0
    started = time.perf_counter()
    for pair in pairs:
        for prompt in (pair.a, pair.b):
            try:
                result = await service.search(cache, SearchQuery(prompt, threshold=threshold))
                if not result.hits:
                    await service.put(cache, NewEntry(prompt, "-"))
            except InvalidRequest:
                skipped += 1
                continue
            prompts += 1
            if result.hits:
                counts[groups.verdict(prompt, result.hits[0].entry.prompt)] += 1
        if progress is not None:
            progress(1)
    return ReplayReport(
        prompts=prompts,
        hits=sum(counts.values()),
        correct=counts["correct"],
        wrong=counts["wrong"],
        unknown=counts["unknown"],
        skipped=skipped,
        seconds=time.perf_counter() - started,
    )
