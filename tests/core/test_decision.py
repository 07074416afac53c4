from __future__ import annotations

import pytest

from semcache.core.decision import VERIFIED_CANDIDATES, Candidate, HitJudge, clamp_similarity
from semcache.testing.fakes import FakeEmbedder, FakeVerifier
from semcache.types import Vectors

pytestmark = pytest.mark.anyio


class PiecesEmbedder(FakeEmbedder):
    """Reads texts in windows separated by " | ", as if each were a model window."""

    def split(self, text: str) -> list[str]:
        return text.split(" | ")

    async def _embed(self, texts: list[str]) -> Vectors:
        return await super()._embed(texts)


def test_clamp_similarity() -> None:
    assert clamp_similarity(1.0000001) == 1.0
    assert clamp_similarity(-0.2) == 0.0
    assert clamp_similarity(0.12345678) == 0.123457


async def test_without_a_verifier_the_similarity_is_the_cosine() -> None:
    judge = HitJudge(FakeEmbedder())
    assert judge.default_threshold == FakeEmbedder.default_threshold
    assert judge.candidate_count(2) == 2 and judge.min_cosine == 0.0
    assert await judge.similarities([Candidate("a", "b", 0.91), Candidate("a", "c", -0.3)]) == [
        0.91,
        0.0,
    ]


async def test_with_a_verifier_the_similarity_is_its_score() -> None:
    verifier = FakeVerifier({("q", "s1"): 0.8, ("q", "s2"): 0.3}, default_threshold=0.7)
    judge = HitJudge(FakeEmbedder(), verifier)
    assert judge.default_threshold == 0.7
    assert judge.candidate_count(1) == VERIFIED_CANDIDATES
    scores = await judge.similarities([Candidate("q", "s1", 0.5), Candidate("q", "s2", 0.99)])
    assert scores == [0.8, 0.3]
    assert verifier.batches == [[("q", "s1"), ("q", "s2")]]


async def test_candidates_below_the_verifiers_floor_are_not_verified() -> None:
    verifier = FakeVerifier(default=0.9, min_cosine={"fake": 0.6})
    judge = HitJudge(FakeEmbedder(), verifier)
    assert judge.min_cosine == 0.6
    scores = await judge.similarities([Candidate("q", "near", 0.7), Candidate("q", "far", 0.5)])
    assert scores == [0.9, 0.0]
    assert verifier.batches == [[("q", "near")]]
    # The floor belongs to one embedder; with another, every candidate is verified.
    other = FakeEmbedder()
    other.name = "other"
    assert await HitJudge(other, verifier).similarities([Candidate("q", "far", 0.1)]) == [0.9]


async def test_a_stored_prompt_identical_to_the_searched_one_scores_1_unverified() -> None:
    verifier = FakeVerifier(default=0.4)
    judge = HitJudge(FakeEmbedder(), verifier)
    scores = await judge.similarities([Candidate("q", "q", 1.0), Candidate("q", "r", 0.99)])
    assert scores == [1.0, 0.4]
    assert verifier.batches == [[("q", "r")]]


async def test_more_candidates_are_verified_only_when_the_first_fail() -> None:
    verifier = FakeVerifier({("q", "a"): 0.9, ("q", "b"): 0.2, ("q", "c"): 0.8})
    judge = HitJudge(FakeEmbedder(), verifier)
    candidates = [Candidate("q", s, 0.9) for s in "abc"]
    assert await judge.hits(candidates, threshold=0.5, wanted=1) == [(0, 0.9)]
    assert verifier.batches == [[("q", "a")]]
    verifier.batches.clear()
    assert await judge.hits(candidates[1:], threshold=0.5, wanted=1) == [(1, 0.8)]
    assert verifier.batches == [[("q", "b")], [("q", "c")]]


async def test_hits_come_best_first() -> None:
    verifier = FakeVerifier({("q", "a"): 0.6, ("q", "b"): 0.95})
    judge = HitJudge(FakeEmbedder(), verifier)
    candidates = [Candidate("q", s, 0.9) for s in "ab"]
    assert await judge.hits(candidates, threshold=0.5, wanted=2) == [(1, 0.95), (0, 0.6)]


async def test_long_prompts_must_agree_in_every_window_without_a_verifier() -> None:
    judge = HitJudge(PiecesEmbedder())
    same_start = Candidate("intro | ending one", "intro | ending two", 0.99)
    same_text = Candidate("intro | ending one", "INTRO | ending one", 0.99)
    shorter = Candidate("intro", "intro | more", 0.99)
    reordered = Candidate("one | two", "two | one", 0.99)
    scores = await judge.similarities([same_start, same_text, shorter, reordered])
    assert scores[0] < 0.5 and scores[2] < 0.5
    assert scores[1] == 0.99 and scores[3] == 0.99
