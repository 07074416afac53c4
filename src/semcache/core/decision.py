"""What counts as a hit: how the candidates of a semantic search get their similarity.

Without a verifier, a candidate's similarity is the cosine similarity of the two prompts'
embeddings. With one, the few best candidates by cosine are read together with the prompt
by the verifier, and its score (a calibrated probability that both ask the same question)
is the similarity. Either way a candidate is a hit when its similarity reaches the
threshold, and `semcache eval` measures exactly this code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from semcache.embedding.base import Embedder
from semcache.embedding.verifier import Verifier

__all__ = ["VERIFIED_CANDIDATES", "Candidate", "HitJudge", "clamp_similarity"]

VERIFIED_CANDIDATES = 3
"""How many of the best candidates by cosine a verifier may read when a search wants one
hit: the true duplicate is usually the first, and rarely below the third."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stored prompt found for a searched prompt, with the cosine of their embeddings."""

    prompt: str
    stored: str
    cosine: float


def clamp_similarity(value: float) -> float:
    """A similarity in [0, 1]; rounding makes a prompt compared with itself score exactly
    1.0 despite float32 noise."""
    return round(min(max(float(value), 0.0), 1.0), 6)


class HitJudge:
    """Gives candidates the similarity that decides whether they are hits.

    Example::

        judge = HitJudge(embedder, verifier)
        [similarity] = await judge.similarities([Candidate(prompt, stored, cosine)])
        is_hit = similarity >= threshold
    """

    def __init__(self, embedder: Embedder, verifier: Verifier | None = None) -> None:
        self.embedder = embedder
        self.verifier = verifier

    @property
    def default_threshold(self) -> float:
        """The threshold calibrated for the score in use: the verifier's, else the embedder's."""
        if self.verifier is not None:
            return self.verifier.default_threshold
        return self.embedder.default_threshold

    @property
    def min_cosine(self) -> float:
        """Candidates below this cosine are misses without being verified."""
        if self.verifier is None:
            return 0.0
        return self.verifier.min_cosine.get(self.embedder.name, 0.0)

    def candidate_count(self, wanted: int) -> int:
        """How many candidates to fetch from the store to find ``wanted`` hits."""
        return wanted if self.verifier is None else max(wanted, VERIFIED_CANDIDATES)

    async def hits(
        self,
        candidates: Sequence[Candidate],
        *,
        threshold: float,
        wanted: int,
        judged: dict[int, float] | None = None,
    ) -> list[tuple[int, float]]:
        """The candidates that are hits, as (index, similarity), best first.

        Candidates come best cosine first. With a verifier, the first ``wanted`` are
        verified together, and the others only if too few of those pass: a search whose
        best candidate is a hit pays for verifying one pair, not several. ``judged``, if
        given, receives every similarity computed, by index.
        """
        first = await self.similarities(candidates[:wanted])
        found = [(i, s) for i, s in enumerate(first) if s >= threshold]
        if judged is not None:
            judged.update(enumerate(first))
        if len(found) < wanted and len(candidates) > wanted:
            rest = await self.similarities(candidates[wanted:])
            found += [(wanted + i, s) for i, s in enumerate(rest) if s >= threshold]
            if judged is not None:
                judged.update((wanted + i, s) for i, s in enumerate(rest))
        # Stable: equal similarities keep the better cosine first.
        return sorted(found, key=lambda hit: -hit[1])

    async def similarities(self, candidates: Sequence[Candidate]) -> list[float]:
        """One similarity in [0, 1] per candidate, in order.

        With a verifier, a candidate below `min_cosine` is not verified and gets 0.0, and
        one whose text is the prompt's own gets 1.0 unverified.
        Without one, a prompt longer than the embedder's window gets the lowest cosine
        between a window of either prompt and its closest window in the other, so long
        prompts that share only their beginning are not alike.
        """
        if not candidates:
            return []
        if self.verifier is not None:
            return await self._verified(self.verifier, candidates)
        similarities = [clamp_similarity(c.cosine) for c in candidates]
        for index, candidate in enumerate(candidates):
            if similarities[index] > 0.0:
                agreement = await self._window_agreement(candidate.prompt, candidate.stored)
                similarities[index] = min(similarities[index], clamp_similarity(agreement))
        return similarities

    async def _verified(self, verifier: Verifier, candidates: Sequence[Candidate]) -> list[float]:
        floor = self.min_cosine
        # The same text is the same question: 1.0, as cosine gives it, without the model.
        same = [c.prompt == c.stored for c in candidates]
        chosen = [i for i, c in enumerate(candidates) if c.cosine >= floor and not same[i]]
        similarities = [1.0 if s else 0.0 for s in same]
        scores = await verifier.score(
            [(candidates[i].prompt, candidates[i].stored) for i in chosen]
        )
        for index, score in zip(chosen, scores, strict=True):
            similarities[index] = clamp_similarity(score)
        return similarities

    async def _window_agreement(self, prompt: str, stored: str) -> float:
        mine, theirs = self.embedder.split(prompt), self.embedder.split(stored)
        if len(mine) == 1 and len(theirs) == 1:
            return 1.0
        vectors = await self.embedder.embed([*mine, *theirs])
        cosines = vectors[: len(mine)] @ vectors[len(mine) :].T
        return float(min(np.max(cosines, axis=1).min(), np.max(cosines, axis=0).min()))
