"""`semcache eval` end to end: the installed command, the shipped embedder, no verifier."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SEMCACHE = Path(sys.executable).with_name("semcache")

IDENTICAL = [
    "How do I reset my password?",
    "What is the capital of Australia?",
    "How many legs does a spider have?",
    "Which planet is closest to the sun?",
    "How do I boil an egg?",
    "Who wrote Pride and Prejudice?",
    "What is the speed of light in a vacuum?",
    "How do I cancel my gym membership?",
]
PARAPHRASES = [
    ("How can I renew my passport?", "What do I need to do to renew my passport?"),
    ("What time does the pharmacy close today?", "When does the pharmacy close today?"),
    ("How do I convert Celsius to Fahrenheit?", "How to convert degrees Celsius into Fahrenheit?"),
    ("What is the best way to learn Spanish?", "What's the best way to learn Spanish?"),
    ("How do I delete my Facebook account?", "How can I delete my Facebook account?"),
    ("Why is the sky blue?", "Why does the sky look blue?"),
    ("How long should I cook rice?", "How long do I need to cook rice for?"),
    ("What are the symptoms of the flu?", "What symptoms does the flu cause?"),
]
UNRELATED = [
    ("How do I change a flat bicycle tyre?", "What is the population of Canada?"),
    ("Recommend a good science fiction novel", "How do I unclog a kitchen sink?"),
    ("What is the tallest mountain in Africa?", "How do I write a cover letter?"),
    ("How do vaccines work?", "Where can I buy cheap concert tickets?"),
    ("What is a prime number?", "How do I train my puppy to sit?"),
    ("Translate 'good morning' into German", "What causes earthquakes?"),
    ("How much does a Tesla Model 3 cost?", "Who painted the Mona Lisa?"),
    ("How do I install Python on Windows?", "What should I pack for a beach holiday?"),
    ("When did the Berlin Wall fall?", "How do I make sourdough bread at home?"),
    ("What is the exchange rate of euro to yen?", "How often should I water a cactus?"),
    ("How do I tie a tie?", "What is photosynthesis?"),
    ("Is coffee bad for your heart?", "How do I set up a VPN on my router?"),
    ("What is the rule of offside in football?", "How do I fix a leaking tap?"),
    ("Which whales live in the Arctic?", "How do I file my tax return online?"),
]
PAIRS = (
    [(q, q, 1) for q in IDENTICAL]
    + [(a, b, 1) for a, b in PARAPHRASES]
    + [(a, b, 0) for a, b in UNRELATED]
)
SAME = len(IDENTICAL) + len(PARAPHRASES)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NUMBER = r"(\d+\.\d+)"
CONFUSION_LINE = (
    rf"threshold {NUMBER}  precision {NUMBER}  recall {NUMBER}  F1 {NUMBER}  hit ratio {NUMBER}"
)


def semcache_eval(cwd: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run ``semcache eval`` as a user would, in ``cwd`` (where the default plot lands)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEMCACHE_", "LANGCACHE_"))}
    # The test may share its cores with other work: one thread keeps it light.
    env["SEMCACHE_THREADS"] = "1"
    return subprocess.run(
        [str(SEMCACHE), "eval", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def succeeded(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def pairs_jsonl(directory: Path) -> Path:
    rows: list[dict[str, object]] = [{"a": a, "b": b, "label": label} for a, b, label in PAIRS]
    return write_jsonl(directory / "pairs.jsonl", rows)


def confusion(text: str, label: str) -> tuple[float, ...]:
    found = re.search(rf"^{label}\s+{CONFUSION_LINE}", text, re.MULTILINE)
    assert found, f"no {label!r} line in:\n{text}"
    return tuple(float(value) for value in found.groups())


def check_confusion(figures: dict[str, Any], pairs: int) -> None:
    """A confusion's figures agree with its counts."""
    hits = figures["true_hits"] + figures["false_hits"]
    for name in ("precision", "recall", "f1", "hit_ratio"):
        assert 0 <= figures[name] <= 1, figures
    assert figures["hit_ratio"] == pytest.approx(hits / pairs, abs=1e-4)
    if hits:
        assert figures["precision"] == pytest.approx(figures["true_hits"] / hits, abs=1e-4)
    p, r = figures["precision"], figures["recall"]
    assert figures["f1"] == pytest.approx(2 * p * r / (p + r) if p + r else 0.0, abs=1e-3)


@pytest.fixture(scope="module")
def json_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The JSON figures of the pairs at the calibrated threshold, and where the run was."""
    directory = tmp_path_factory.mktemp("eval-json")
    done = semcache_eval(
        directory, pairs_jsonl(directory), "--verifier", "off", "--json", "--no-plot"
    )
    report: dict[str, Any] = json.loads(succeeded(done))
    report["directory"] = directory
    return report


def test_text_report_and_plot(tmp_path: Path) -> None:
    plot = tmp_path / "plots" / "curve.png"
    done = semcache_eval(tmp_path, pairs_jsonl(tmp_path), "--verifier", "off", "--plot", plot)
    text = succeeded(done)

    assert text.startswith(f"pairs.jsonl: {len(PAIRS)} pairs, {SAME} of them the same question\n")
    decision = re.search(
        r"^decision: embedder all-MiniLM-L6-v2, cosine similarity, "
        r"threshold (\S+) \(calibrated default\)$",
        text,
        re.MULTILINE,
    )
    assert decision, text
    default = float(decision.group(1))

    at = re.search(
        rf"^at the threshold\s+{CONFUSION_LINE}  \((\d+) hits, (\d+) wrong\)$", text, re.MULTILINE
    )
    assert at, text
    threshold, precision, recall, f1, hit_ratio, hits, wrong = (float(v) for v in at.groups())
    assert threshold == pytest.approx(default)
    assert hit_ratio == pytest.approx(hits / len(PAIRS), abs=1e-3)
    assert precision == pytest.approx((hits - wrong) / hits, abs=1e-3)
    assert recall == pytest.approx((hits - wrong) / SAME, abs=1e-3)
    assert hits >= len(IDENTICAL)
    assert f1 > 0.5
    shares = re.search(
        r"^\s+same questions hit (\d+) of (\d+) \(.*\), different questions hit (\d+) of (\d+)",
        text,
        re.MULTILINE,
    )
    assert shares, text
    same_hit, same, different_hit, different = (int(v) for v in shares.groups())
    assert (same_hit, same) == (hits - wrong, SAME)
    assert (different_hit, different) == (wrong, len(PAIRS) - SAME)

    assert confusion(text, "best F1")[3] >= 0.9
    auc = re.search(r"^ROC-AUC (\d\.\d{4})$", text, re.MULTILINE)
    assert auc, text
    assert float(auc.group(1)) >= 0.95
    assert re.search(
        rf"^time per decision: p50 {NUMBER} ms, p90 {NUMBER} ms "
        rf"\(one at a time, {len(PAIRS)} pairs\); batched {NUMBER} ms per pair$",
        text,
        re.MULTILINE,
    ), text

    table = text.split("\nthreshold  hit ratio  precision  recall\n", 1)[1].splitlines()
    rows = [tuple(float(v) for v in line.split()[:4]) for line in table]
    assert len(rows) >= 20
    assert [row[0] for row in rows] == sorted(row[0] for row in rows)
    assert all(0 <= value <= 1 for row in rows for value in row[1:])
    ratios = [row[1] for row in rows]
    assert ratios == sorted(ratios, reverse=True)  # a higher threshold never adds hits
    [marked] = [line for line in table if line.endswith("  <- the threshold")]
    assert float(marked.split()[0]) == pytest.approx(default)

    assert f"plot: {plot}" in done.stderr
    assert plot.read_bytes().startswith(PNG_SIGNATURE)
    assert plot.stat().st_size > 10_000
    assert list(tmp_path.glob("*.png")) == []  # not also at the default place


def test_json_figures(json_report: dict[str, Any]) -> None:
    [variant] = json_report["variants"]
    assert variant["name"] == "pairs.jsonl"
    assert variant["pairs"] == len(PAIRS)
    assert variant["same"] == SAME
    assert "cosine similarity" in variant["decision"]
    for key in ("at_threshold", "best_f1", "best_recall_at_precision_0.9"):
        check_confusion(variant[key], len(PAIRS))
    at = variant["at_threshold"]
    assert at["true_hits"] >= len(IDENTICAL)
    different = len(PAIRS) - SAME
    assert at["different_hit_ratio"] == pytest.approx(at["false_hits"] / different, abs=1e-4)
    assert variant["best_f1"]["f1"] >= 0.9
    assert variant["roc_auc"] >= 0.95
    curve = variant["curve"]
    assert [p["threshold"] for p in curve] == sorted(p["threshold"] for p in curve)
    assert [p["hit_ratio"] for p in curve] == sorted((p["hit_ratio"] for p in curve), reverse=True)
    assert variant["at_threshold"]["threshold"] in [p["threshold"] for p in curve]
    assert variant["decision_ms_p50"] > 0
    assert variant["batch_ms_per_pair"] > 0
    assert "replay" not in variant


def test_no_plot_draws_nothing(json_report: dict[str, Any]) -> None:
    assert list(json_report["directory"].glob("*.png")) == []


def test_threshold_given(tmp_path: Path, json_report: dict[str, Any]) -> None:
    done = semcache_eval(
        tmp_path,
        pairs_jsonl(tmp_path),
        "--verifier",
        "off",
        "--threshold",
        "1.0",
        "--json",
        "--no-plot",
    )
    [variant] = json.loads(succeeded(done))["variants"]
    assert variant["decision"].endswith("threshold 1 (given)")
    at = variant["at_threshold"]
    assert at["threshold"] == 1.0
    check_confusion(at, len(PAIRS))
    # Only an identical question can reach a cosine of 1 (and rounding may keep it below).
    assert at["false_hits"] == 0
    assert at["true_hits"] <= len(IDENTICAL)
    default = json_report["variants"][0]["at_threshold"]
    assert at["recall"] < default["recall"]
    # What does not depend on the threshold stays as it was.
    assert variant["best_f1"] == json_report["variants"][0]["best_f1"]
    assert variant["roc_auc"] == json_report["variants"][0]["roc_auc"]


def test_csv_with_named_columns(tmp_path: Path) -> None:
    path = tmp_path / "quora.csv"
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["id", "question1", "question2", "is_duplicate"])
        for number, (a, b, label) in enumerate(PAIRS):
            writer.writerow([number, a, b, label])
        writer.writerow(
            [len(PAIRS), 'Is "cheap, fast, good" a trilemma?', "What is a trilemma?", 0]
        )
    done = semcache_eval(
        tmp_path, path, "--columns", "question1, question2, is_duplicate", "--verifier", "off"
    )
    text = succeeded(done)
    assert text.startswith(f"quora.csv: {len(PAIRS) + 1} pairs, {SAME} of them the same question")
    assert confusion(text, "best F1")[3] >= 0.9
    # Without --plot, the plot is drawn next to where the command runs.
    assert "plot: eval-quora.png" in done.stderr
    assert (tmp_path / "eval-quora.png").read_bytes().startswith(PNG_SIGNATURE)


def test_replay(tmp_path: Path) -> None:
    done = semcache_eval(
        tmp_path, pairs_jsonl(tmp_path), "--verifier", "off", "--replay", "--no-plot"
    )
    text = succeeded(done)
    prompts = 2 * len(PAIRS)
    assert (
        f"\nreplay: {prompts} prompts searched, then stored on a miss (0 refused by the cache)\n"
        in text
    )
    ratio = re.search(r"^hit ratio (\d\.\d{3}) \((\d+) hits\)$", text, re.MULTILINE)
    assert ratio, text
    hit_ratio, hits = float(ratio.group(1)), int(ratio.group(2))
    assert hit_ratio == pytest.approx(hits / prompts, abs=1e-3)
    # Every identical question is found again; unrelated ones never are.
    assert len(IDENTICAL) <= hits <= SAME
    precision = re.search(
        r"^precision of hits (\d\.\d{3}): (\d+) known correct, (\d+) labelled different, "
        r"(\d+) without a label \(counted wrong\)$",
        text,
        re.MULTILINE,
    )
    assert precision, text
    correct, wrong, unknown = (int(v) for v in precision.groups()[1:])
    assert correct + wrong + unknown == hits
    assert float(precision.group(1)) == pytest.approx(correct / hits, abs=1e-3)
    assert wrong == 0
    assert re.search(r"^precision over labelled hits \d\.\d{3}$", text, re.MULTILINE)
    assert "replaying" in done.stderr


GOOD = {"a": "How do I reset my password?", "b": "How can I reset my password?", "label": 1}


@pytest.mark.parametrize(
    ("content", "args", "status", "message"),
    [
        pytest.param(
            [GOOD, {"a": "Why is the sky blue?", "b": "Why does the sky look blue?"}],
            (),
            1,
            "pairs.jsonl, row 2: no label (columns: a, b, label)",
            id="missing-column",
        ),
        pytest.param(
            [GOOD, GOOD, '{"a": "Why is the sky blue?", "b": oops}'],
            (),
            1,
            "pairs.jsonl, row 3 is malformed: Expecting value",
            id="malformed-line",
        ),
        pytest.param(
            [GOOD, {**GOOD, "label": "maybe"}],
            (),
            1,
            "pairs.jsonl, row 2: the label must be 0 or 1, got 'maybe'",
            id="bad-label",
        ),
        pytest.param(
            [GOOD],
            ("--columns", "a,b"),
            2,
            "Invalid value for --columns: give three column names, e.g. a,b,label",
            id="two-columns",
        ),
        pytest.param(
            [GOOD],
            ("--columns", "q1,q2,dup"),
            1,
            "pairs.jsonl, row 1: no q1, q2, dup (columns: q1, q2, dup)",
            id="absent-columns",
        ),
        pytest.param([], (), 1, "pairs.jsonl holds no pairs", id="empty-file"),
        pytest.param(
            [GOOD],
            ("--verifier", "no-such-verifier"),
            1,
            "unknown verifier 'no-such-verifier': give a shipped verifier's name or 'off'",
            id="unknown-verifier",
        ),
        pytest.param(
            [GOOD],
            ("--embedder", "no-such-model", "--verifier", "off"),
            1,
            "unknown embedder 'no-such-model'",
            id="unknown-embedder",
        ),
    ],
)
def test_bad_input(
    tmp_path: Path, content: list[object], args: tuple[str, ...], status: int, message: str
) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(f"{r if isinstance(r, str) else json.dumps(r)}\n" for r in content))
    if "--verifier" not in args:
        args = (*args, "--verifier", "off")
    done = semcache_eval(tmp_path, path.name, *args, "--no-plot")
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr
    assert "Error: " in done.stderr
    assert message in done.stderr
    assert done.stdout == ""


def test_unwritable_plot(tmp_path: Path) -> None:
    pairs = pairs_jsonl(tmp_path)
    done = semcache_eval(tmp_path, pairs, "--verifier", "off", "--plot", pairs / "curve.png")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert f"Error: cannot write the plot {pairs / 'curve.png'}: " in done.stderr
    assert "(pass --plot PATH or --no-plot)" in done.stderr
    assert done.stdout.startswith("pairs.jsonl: ")  # the report came first
