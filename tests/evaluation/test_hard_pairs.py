"""The hand-written hard pairs that `semcache eval` judges the hit decision on."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from semcache.evaluation.data import read_pairs

HARD_PAIRS = Path(__file__).parents[1] / "data" / "hard_pairs.jsonl"


def test_the_hard_pairs_are_many_varied_and_distinct() -> None:
    rows = [json.loads(line) for line in HARD_PAIRS.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 100
    labels = Counter(row["label"] for row in rows)
    assert labels[0] >= 50 and labels[1] >= 50
    kinds = Counter(row["kind"] for row in rows if row["label"] == 0)
    assert {"negation", "swapped", "number", "entity", "antonym", "unit"} <= set(kinds)
    pairs = [frozenset((row["a"], row["b"])) for row in rows]
    assert len(set(pairs)) == len(pairs)
    assert all(row["a"] != row["b"] for row in rows)


def test_eval_reads_them() -> None:
    pairs = read_pairs(HARD_PAIRS)
    assert len(pairs) >= 100
