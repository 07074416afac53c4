"""Decision-quality metrics over scored, labelled pairs: a pair is a hit when its score
reaches the threshold, and a correct hit when its label says the two prompts mean the same."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "Confusion",
    "CurvePoint",
    "best_f1",
    "best_recall_at_precision",
    "confusion_at",
    "full_curve",
    "hit_ratio_curve",
    "roc_auc",
]

Array = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Confusion:
    """Counts of hits (score at or above the threshold) and misses against the labels."""

    threshold: float
    true_hits: int
    false_hits: int
    missed: int
    true_misses: int

    @property
    def total(self) -> int:
        return self.same + self.different

    @property
    def hits(self) -> int:
        return self.true_hits + self.false_hits

    @property
    def precision(self) -> float:
        """Correct hits among hits; 1.0 when there are no hits (nothing wrong was served)."""
        return self.true_hits / self.hits if self.hits else 1.0

    @property
    def same(self) -> int:
        """Pairs labelled the same question."""
        return self.true_hits + self.missed

    @property
    def different(self) -> int:
        """Pairs labelled different questions."""
        return self.false_hits + self.true_misses

    @property
    def recall(self) -> float:
        """Duplicates found among all duplicates; 0.0 when there are none."""
        return self.true_hits / self.same if self.same else 0.0

    @property
    def different_hit_ratio(self) -> float:
        """Different questions that hit among all of them; 0.0 when there are none."""
        return self.false_hits / self.different if self.different else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def hit_ratio(self) -> float:
        """Hits among all pairs: how often the cache would answer."""
        return self.hits / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True)
class CurvePoint:
    threshold: float
    hit_ratio: float
    precision: float
    recall: float


def _arrays(scores: Sequence[float] | Array, labels: Sequence[int] | Array) -> tuple[Array, Array]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(
            f"scores and labels must be two lists of one length, got {s.shape}, {y.shape}"
        )
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1")
    return s, y


def confusion_at(
    scores: Sequence[float] | Array, labels: Sequence[int] | Array, threshold: float
) -> Confusion:
    """The confusion counts when a hit needs ``score >= threshold``."""
    s, y = _arrays(scores, labels)
    hit = s >= threshold
    positive = y == 1
    return Confusion(
        threshold=float(threshold),
        true_hits=int((hit & positive).sum()),
        false_hits=int((hit & ~positive).sum()),
        missed=int((~hit & positive).sum()),
        true_misses=int((~hit & ~positive).sum()),
    )


def _sweep(s: Array, y: Array) -> tuple[Array, Array, Array]:
    """Every distinct score as a threshold, highest first, with the true and false hit
    counts it gives."""
    order = np.argsort(-s, kind="mergesort")
    sorted_scores, sorted_labels = s[order], y[order]
    true_hits = np.cumsum(sorted_labels)
    false_hits = np.cumsum(1 - sorted_labels)
    # Equal scores are hits or misses together: keep the last position of each run.
    last = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    return sorted_scores[last], true_hits[last], false_hits[last]


def best_f1(scores: Sequence[float] | Array, labels: Sequence[int] | Array) -> Confusion:
    """The confusion at the threshold (one of the scores) with the highest F1."""
    s, y = _arrays(scores, labels)
    if not len(s):
        raise ValueError("no pairs")
    thresholds, tp, fp = _sweep(s, y)
    positives = y.sum()
    f1 = 2 * tp / np.maximum(tp + fp + positives, 1)
    return confusion_at(s, y, float(thresholds[int(np.argmax(f1))]))


def best_recall_at_precision(
    scores: Sequence[float] | Array, labels: Sequence[int] | Array, precision: float
) -> Confusion | None:
    """The confusion at the threshold whose hits are at least ``precision`` correct with the
    most recall (of equals, the highest: it lets fewer wrong hits in), or None if no
    threshold gives it."""
    s, y = _arrays(scores, labels)
    if not len(s):
        return None
    thresholds, tp, fp = _sweep(s, y)
    good = np.flatnonzero(tp / (tp + fp) >= precision)
    if not len(good):
        return None
    most = good[tp[good] == tp[good].max()][0]  # thresholds come highest first
    return confusion_at(s, y, float(thresholds[most]))


def roc_auc(scores: Sequence[float] | Array, labels: Sequence[int] | Array) -> float:
    """The probability that a duplicate pair scores above a different one (ties count half).

    Raises:
        ValueError: the labels are all of one kind.
    """
    s, y = _arrays(scores, labels)
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    if not positives or not negatives:
        raise ValueError("ROC-AUC needs pairs of both labels")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    ranks[order] = np.arange(1, len(s) + 1)
    # Tied scores share the mean of their ranks.
    unique, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    if len(unique) < len(s):
        sums = np.bincount(inverse, weights=ranks)
        ranks = (sums / counts)[inverse]
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def hit_ratio_curve(
    scores: Sequence[float] | Array, labels: Sequence[int] | Array, thresholds: Sequence[float]
) -> list[CurvePoint]:
    """Hit ratio, precision and recall at each threshold, in the order given."""
    s, y = _arrays(scores, labels)
    points = []
    for threshold in thresholds:
        c = confusion_at(s, y, threshold)
        points.append(CurvePoint(float(threshold), c.hit_ratio, c.precision, c.recall))
    return points


def full_curve(scores: Sequence[float] | Array, labels: Sequence[int] | Array) -> list[CurvePoint]:
    """A point for every distinct score taken as the threshold, from the highest down."""
    s, y = _arrays(scores, labels)
    if not len(s):
        return []
    thresholds, tp, fp = _sweep(s, y)
    positives = max(1.0, float(y.sum()))
    return [
        CurvePoint(float(t), float((a + b) / len(s)), float(a / (a + b)), float(a / positives))
        for t, a, b in zip(thresholds, tp, fp, strict=True)
    ]
