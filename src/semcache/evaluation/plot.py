"""The precision versus hit ratio plot, drawn with matplotlib (the ``eval`` extra)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from semcache.errors import ConfigError
from semcache.evaluation.metrics import confusion_at, full_curve
from semcache.evaluation.runner import PairScores

__all__ = ["INSTALL_HINT", "write_plot"]

INSTALL_HINT = "the plot needs matplotlib: pip install 'semcache[eval]' (or pass --no-plot)"


def write_plot(path: Path, title: str, curves: Sequence[tuple[str, PairScores, float]]) -> None:
    """Draw one precision versus hit ratio curve per (label, scores, threshold), with the
    point of each threshold marked, and save it as a PNG.

    Raises:
        ConfigError: matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ConfigError(INSTALL_HINT) from exc
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=110)
    for label, scored, threshold in curves:
        points = full_curve(scored.scores, scored.labels)
        line = axes.plot(
            [p.hit_ratio for p in points], [p.precision for p in points], label=label, lw=1.6
        )[0]
        chosen = confusion_at(scored.scores, scored.labels, threshold)
        axes.plot(chosen.hit_ratio, chosen.precision, "o", color=line.get_color())
        axes.annotate(
            f"threshold {threshold:.2f}: precision {chosen.precision:.2f}, "
            f"recall {chosen.recall:.2f}",
            (chosen.hit_ratio, chosen.precision),
            textcoords="offset points",
            xytext=(6, -14),
            fontsize=8,
            color=line.get_color(),
        )
    positives = sum(curves[0][1].labels) / max(1, len(curves[0][1].labels)) if curves else 0.0
    if positives:
        axes.axvline(positives, color="grey", lw=0.8, ls=":", label="share of duplicate pairs")
    axes.set_xlabel("hit ratio (share of pairs answered from the cache)")
    axes.set_ylabel("precision (share of hits that are correct)")
    axes.set_ylim(0.3, 1.01)
    axes.set_xlim(0, None)
    axes.grid(alpha=0.3)
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=8, loc="lower left")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
