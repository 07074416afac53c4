from __future__ import annotations

import pytest

from semcache.evaluation.metrics import (
    best_f1,
    best_recall_at_precision,
    confusion_at,
    full_curve,
    hit_ratio_curve,
    roc_auc,
)

SCORES = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
LABELS = [1, 1, 0, 1, 0, 0]


def test_confusion_counts_hits_at_or_above_the_threshold() -> None:
    c = confusion_at(SCORES, LABELS, 0.6)
    assert (c.true_hits, c.false_hits, c.missed, c.true_misses) == (3, 1, 0, 2)
    assert c.precision == 0.75 and c.recall == 1.0
    assert c.f1 == pytest.approx(2 * 0.75 / 1.75)
    assert c.hit_ratio == pytest.approx(4 / 6)
    assert (c.hits, c.same, c.different) == (4, 3, 3)
    assert c.different_hit_ratio == pytest.approx(1 / 3)


def test_no_hits_is_precision_one_and_recall_zero() -> None:
    c = confusion_at(SCORES, LABELS, 0.95)
    assert (c.precision, c.recall, c.f1, c.hit_ratio) == (1.0, 0.0, 0.0, 0.0)
    assert c.different_hit_ratio == 0.0


def test_best_f1_picks_the_best_score_as_threshold() -> None:
    best = best_f1(SCORES, LABELS)
    # 0.8: P 1, R 2/3, F1 0.8; 0.6: P 3/4, R 1, F1 6/7 (the best)
    assert best.threshold == 0.6
    assert best.f1 == pytest.approx(6 / 7)


def test_tied_scores_are_hits_together() -> None:
    best = best_f1([0.5, 0.5, 0.1], [1, 0, 0])
    assert best.threshold == 0.5 and best.true_hits == 1 and best.false_hits == 1


def test_best_recall_at_precision() -> None:
    found = best_recall_at_precision(SCORES, LABELS, 0.75)
    assert found is not None and found.threshold == 0.6 and found.recall == 1.0
    found = best_recall_at_precision(SCORES, LABELS, 1.0)
    assert found is not None and found.threshold == 0.8
    assert best_recall_at_precision([0.9, 0.1], [0, 1], 0.9) is None


def test_best_recall_at_precision_takes_the_highest_of_equal_thresholds() -> None:
    # 0.9 and 0.2 both find the one duplicate; 0.2 also lets a wrong hit in.
    found = best_recall_at_precision([0.9, 0.5, 0.2], [1, 0, 0], 0.5)
    assert found is not None and found.threshold == 0.9 and found.false_hits == 0


def test_roc_auc_by_ranks_with_ties_counting_half() -> None:
    assert roc_auc([0.9, 0.1], [1, 0]) == 1.0
    assert roc_auc([0.1, 0.9], [1, 0]) == 0.0
    assert roc_auc([0.5, 0.5], [1, 0]) == 0.5
    # 3 positives x 3 negatives: the positive at 0.6 is below the negative at 0.7 only.
    assert roc_auc(SCORES, LABELS) == pytest.approx(8 / 9)


def test_roc_auc_needs_both_labels() -> None:
    with pytest.raises(ValueError, match="both"):
        roc_auc([0.1, 0.2], [1, 1])


def test_curves() -> None:
    [low, high] = hit_ratio_curve(SCORES, LABELS, [0.55, 0.85])
    assert (low.hit_ratio, low.precision, low.recall) == pytest.approx((4 / 6, 0.75, 1.0))
    assert (high.hit_ratio, high.precision, high.recall) == pytest.approx((1 / 6, 1.0, 1 / 3))
    points = full_curve(SCORES, LABELS)
    assert [p.threshold for p in points] == SCORES
    assert points[-1].hit_ratio == 1.0 and points[-1].precision == 0.5


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="one length"):
        confusion_at([0.1], [1, 0], 0.5)
    with pytest.raises(ValueError, match="0 or 1"):
        confusion_at([0.1], [2], 0.5)
