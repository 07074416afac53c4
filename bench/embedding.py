"""Compare ONNX embedding models: fidelity, batch independence, latency and throughput.

    .venv/bin/python bench/embedding.py [MODEL_DIR ...] [--baseline DIR] [--pairs FILE]

With no MODEL_DIR it measures the shipped model. ``scripts/export_model.py --work-dir DIR``
leaves an fp32 and a dynamic-int8 model directory in DIR to compare against. Models are
measured in interleaved rounds so that load from other processes hits them alike.

Printed per model: file size; cosine to the sentence-transformers reference vectors (min and
median); cosine to the baseline model over the same texts; the largest change of a vector
component when a text is embedded with longer ones instead of alone; median milliseconds of
``encode([prompt])`` for 10-word prompts; median prompts per second for batches of 32 and 64;
with --pairs (JSON lines of ``{"a", "b", "label"}``), the best F1 over thresholds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

import numpy as np

from semcache.embedding.onnx import DEFAULT_MODEL_DIR, ONNXEmbedder
from semcache.types import Vectors

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "tests" / "embedding" / "reference_vectors.json"

PROMPTS = [
    "How do I reset the password on my work laptop?",
    "What is the capital city of Australia and its population?",
    "Can you explain how a semantic cache speeds up chatbots?",
    "Write a short poem about the sea at night, please.",
    "Which programming language is best for data science work today?",
    "What are the side effects of taking ibuprofen every day?",
    "Summarise the main causes of the First World War briefly.",
    "How many calories are there in a medium sized banana?",
    "Recommend three science fiction novels for a long flight.",
    "Why does my sourdough bread come out flat and dense?",
    "Translate 'where is the train station' into German for me.",
    "What is the difference between a virus and a bacterium?",
    "How can I improve my credit score within six months?",
    "Explain the rules of cricket to an American baseball fan.",
    "What time zone should I use for a meeting with Tokyo?",
    "Give me a recipe for a quick vegetarian pasta dinner.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", type=Path, default=[DEFAULT_MODEL_DIR])
    parser.add_argument("--baseline", type=Path, help="model directory to compare vectors with")
    parser.add_argument("--calls", type=int, default=300, help="single-prompt calls per model")
    parser.add_argument("--rounds", type=int, default=15, help="timed batches per size")
    parser.add_argument("--pairs", type=Path, help="labelled pairs for best F1")
    parser.add_argument("--pairs-limit", type=int, default=4000)
    parser.add_argument(
        "--threads", type=int, help="cores per model call (default: all, as a lone call runs)"
    )
    args = parser.parse_args()

    reference = json.loads(REFERENCE.read_text("utf-8"))
    texts = [s["text"] for s in reference["sentences"]]
    expected = np.array([s["vector"] for s in reference["sentences"]], dtype=np.float32)
    pairs = load_pairs(args.pairs, args.pairs_limit) if args.pairs else None
    compared = texts + PROMPTS + (pairs[0] + pairs[1] if pairs else [])

    embedders = {
        path: ONNXEmbedder.from_directory(path, threads=args.threads) for path in args.models
    }
    baseline = ONNXEmbedder.from_directory(args.baseline) if args.baseline else None
    baseline_vectors = baseline.encode(compared) if baseline else None

    single: dict[Path, list[float]] = {path: [] for path in embedders}
    batched: dict[tuple[Path, int], list[float]] = {}
    for embedder in embedders.values():
        embedder.encode(PROMPTS)  # warm up
    for round_ in range(args.rounds):
        for path, embedder in embedders.items():
            for i in range(args.calls // args.rounds):
                prompt = [PROMPTS[(round_ + i) % len(PROMPTS)]]
                start = time.perf_counter()
                embedder.encode(prompt)
                single[path].append(time.perf_counter() - start)
            for size in (32, 64):
                batch = [PROMPTS[(round_ + i) % len(PROMPTS)] for i in range(size)]
                start = time.perf_counter()
                embedder.encode(batch)
                batched.setdefault((path, size), []).append(size / (time.perf_counter() - start))

    for path, embedder in embedders.items():
        vectors = embedder.encode(texts)
        alone = np.concatenate([embedder.encode([text]) for text in texts])
        to_reference = (vectors * expected).sum(axis=1)
        line = [
            f"{embedder.name}",
            f"size {(path / 'model.onnx').stat().st_size / 1e6:.1f} MB",
            f"cosine to reference min {to_reference.min():.4f} median "
            f"{np.median(to_reference):.4f}",
        ]
        if baseline_vectors is not None:
            to_baseline = (embedder.encode(compared) * baseline_vectors).sum(axis=1)
            line.append(
                f"to baseline ({len(compared)} texts) min {to_baseline.min():.4f} "
                f"median {np.median(to_baseline):.4f}"
            )
        line += [
            f"batch drift {np.abs(vectors - alone).max():.1e}",
            f"single {statistics.median(single[path]) * 1e3:.2f} ms",
            f"batch 32 {statistics.median(batched[path, 32]):.0f}/s",
            f"batch 64 {statistics.median(batched[path, 64]):.0f}/s",
        ]
        if pairs:
            line.append(f"best F1 {best_f1(embedder, pairs):.3f} ({len(pairs[2])} pairs)")
        print("\n  ".join(line))

    for embedder in [*embedders.values(), *([baseline] if baseline else [])]:
        asyncio.run(embedder.close())


def load_pairs(path: Path, limit: int) -> tuple[list[str], list[str], list[int]]:
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    rows = rows[:limit]
    return [r["a"] for r in rows], [r["b"] for r in rows], [int(r["label"]) for r in rows]


def best_f1(embedder: ONNXEmbedder, pairs: tuple[list[str], list[str], list[int]]) -> float:
    a: Vectors = embedder.encode(pairs[0])
    b: Vectors = embedder.encode(pairs[1])
    scores = (a * b).sum(axis=1)
    labels = np.array(pairs[2])[np.argsort(-scores)]
    true_positives = np.cumsum(labels)
    precision = true_positives / np.arange(1, len(labels) + 1)
    recall = true_positives / max(labels.sum(), 1)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(f1.max())


if __name__ == "__main__":
    main()
