"""Summaries of an evaluation, as text for people and as a dict for JSON."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from semcache.evaluation.metrics import (
    Confusion,
    CurvePoint,
    best_f1,
    best_recall_at_precision,
    confusion_at,
    hit_ratio_curve,
    roc_auc,
)
from semcache.evaluation.runner import PairScores, ReplayReport

__all__ = ["CURVE_THRESHOLDS", "PairReport", "format_pairs", "format_replay", "summarize"]

CURVE_THRESHOLDS = (*(round(0.05 * i, 2) for i in range(1, 20)), 0.97, 0.99)
"""Thresholds of the precision versus hit ratio table."""

TARGET_PRECISION = 0.9


@dataclass(frozen=True, slots=True)
class PairReport:
    """Everything `semcache eval` reports on scored pairs."""

    name: str
    decision: str
    threshold: float
    at_threshold: Confusion
    best: Confusion
    at_precision: Confusion | None
    auc: float | None
    curve: list[CurvePoint]
    decision_millis: list[float]
    batch_millis_per_pair: float

    def to_dict(self) -> dict[str, object]:
        def confusion(c: Confusion | None) -> dict[str, float] | None:
            if c is None:
                return None
            return {
                "threshold": c.threshold,
                "precision": round(c.precision, 4),
                "recall": round(c.recall, 4),
                "f1": round(c.f1, 4),
                "hit_ratio": round(c.hit_ratio, 4),
                "true_hits": c.true_hits,
                "false_hits": c.false_hits,
                "different_hit_ratio": round(c.different_hit_ratio, 4),
            }

        millis = self.decision_millis
        return {
            "name": self.name,
            "decision": self.decision,
            "pairs": self.at_threshold.total,
            "same": self.at_threshold.same,
            "at_threshold": confusion(self.at_threshold),
            "best_f1": confusion(self.best),
            f"best_recall_at_precision_{TARGET_PRECISION}": confusion(self.at_precision),
            "roc_auc": None if self.auc is None else round(self.auc, 4),
            "curve": [
                {
                    "threshold": p.threshold,
                    "hit_ratio": round(p.hit_ratio, 4),
                    "precision": round(p.precision, 4),
                    "recall": round(p.recall, 4),
                }
                for p in self.curve
            ],
            "decision_ms_p50": round(statistics.median(millis), 3) if millis else None,
            "batch_ms_per_pair": round(self.batch_millis_per_pair, 3),
        }


def summarize(name: str, decision: str, scored: PairScores, threshold: float) -> PairReport:
    labels = scored.labels
    both = 0 < sum(labels) < len(labels)
    return PairReport(
        name=name,
        decision=decision,
        threshold=threshold,
        at_threshold=confusion_at(scored.scores, labels, threshold),
        best=best_f1(scored.scores, labels),
        at_precision=best_recall_at_precision(scored.scores, labels, TARGET_PRECISION),
        auc=roc_auc(scored.scores, labels) if both else None,
        curve=hit_ratio_curve(scored.scores, labels, sorted({*CURVE_THRESHOLDS, threshold})),
        decision_millis=scored.decision_millis,
        batch_millis_per_pair=scored.batch_seconds * 1000 / max(1, len(labels)),
    )


def _line(label: str, c: Confusion) -> str:
    return (
        f"{label:<34} threshold {c.threshold:.3f}  precision {c.precision:.3f}  "
        f"recall {c.recall:.3f}  F1 {c.f1:.3f}  hit ratio {c.hit_ratio:.3f}"
    )


def _share(part: int, whole: int) -> str:
    return f"{part} of {whole} ({part / whole:.1%})" if whole else "0 of 0"


def format_pairs(report: PairReport) -> str:
    c = report.at_threshold
    lines = [
        f"{report.name}: {c.total} pairs, {c.same} of them the same question",
        f"decision: {report.decision}",
        _line("at the threshold", c) + f"  ({c.hits} hits, {c.false_hits} wrong)",
        f"{'':<34} same questions hit {_share(c.true_hits, c.same)}, "
        f"different questions hit {_share(c.false_hits, c.different)}",
        _line("best F1", report.best),
    ]
    if report.at_precision is not None:
        lines.append(_line(f"most recall at precision {TARGET_PRECISION}", report.at_precision))
    if report.auc is not None:
        lines.append(f"ROC-AUC {report.auc:.4f}")
    if report.decision_millis:
        ordered = sorted(report.decision_millis)
        p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
        lines.append(
            f"time per decision: p50 {statistics.median(ordered):.2f} ms, p90 {p90:.2f} ms "
            f"(one at a time, {len(ordered)} pairs); batched {report.batch_millis_per_pair:.2f} "
            "ms per pair"
        )
    lines += ["", "threshold  hit ratio  precision  recall"]
    for point in report.curve:
        mark = "  <- the threshold" if point.threshold == report.threshold else ""
        lines.append(
            f"{point.threshold:9.3f}  {point.hit_ratio:9.3f}  {point.precision:9.3f}  "
            f"{point.recall:6.3f}{mark}"
        )
    return "\n".join(lines)


def format_replay(report: ReplayReport) -> str:
    return "\n".join(
        [
            f"replay: {report.prompts} prompts searched, then stored on a miss "
            f"({report.skipped} refused by the cache)",
            f"hit ratio {report.hit_ratio:.3f} ({report.hits} hits)",
            f"precision of hits {report.precision:.3f}: {report.correct} known correct, "
            f"{report.wrong} labelled different, {report.unknown} without a label (counted wrong)",
            f"precision over labelled hits {report.labelled_precision:.3f}",
            f"{report.seconds:.1f} s, {report.seconds * 1000 / max(1, report.prompts):.2f} ms "
            "per prompt",
        ]
    )
