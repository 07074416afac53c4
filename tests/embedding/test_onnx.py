from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from semcache.embedding.onnx import DEFAULT_MODEL_DIR, ONNXEmbedder
from semcache.errors import ConfigError, EmbeddingError

REFERENCE = json.loads((Path(__file__).parent / "reference_vectors.json").read_text("utf-8"))
TEXTS = [s["text"] for s in REFERENCE["sentences"]]
VECTORS = np.array([s["vector"] for s in REFERENCE["sentences"]], dtype=np.float32)
LONG = "Semantic caches return a stored answer when a new prompt means the same thing. " * 40


@pytest.fixture(scope="module")
def embedder() -> Iterator[ONNXEmbedder]:
    embedder = ONNXEmbedder.from_directory(DEFAULT_MODEL_DIR)
    yield embedder
    asyncio.run(embedder.close())


def test_model_identity(embedder: ONNXEmbedder) -> None:
    assert embedder.name == "all-MiniLM-L6-v2"
    assert embedder.dimension == 384
    assert REFERENCE["dimension"] == 384


@pytest.mark.anyio
async def test_vectors_match_sentence_transformers(embedder: ONNXEmbedder) -> None:
    vectors = await embedder.embed(TEXTS)
    cosines = (vectors * VECTORS).sum(axis=1)
    worst = int(cosines.argmin())
    print(f"cosine to reference: min {cosines.min():.4f}, median {np.median(cosines):.4f}")
    assert cosines.min() >= 0.99, f"{cosines[worst]:.4f} for {TEXTS[worst]!r}"


@pytest.mark.anyio
async def test_shape_dtype_and_unit_norm(embedder: ONNXEmbedder) -> None:
    vectors = await embedder.embed(["one", "two words", "and three words"])
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.anyio
async def test_empty_batch(embedder: ONNXEmbedder) -> None:
    for vectors in (await embedder.embed([]), embedder.encode([])):
        assert vectors.shape == (0, 384)
        assert vectors.dtype == np.float32


@pytest.mark.anyio
async def test_vector_does_not_depend_on_the_batch(embedder: ONNXEmbedder) -> None:
    text = "How do I reset my password?"
    (alone,) = await embedder.embed([text])
    batch = await embedder.embed([LONG, text, "A longer neighbour pads this text further."])
    np.testing.assert_allclose(batch[1], alone, atol=1e-5)


def test_chunking_and_order(embedder: ONNXEmbedder) -> None:
    small_chunks = ONNXEmbedder.from_directory(DEFAULT_MODEL_DIR, chunk_size=3, threads=1)
    try:
        np.testing.assert_allclose(small_chunks.encode(TEXTS), embedder.encode(TEXTS), atol=1e-5)
    finally:
        asyncio.run(small_chunks.close())


@pytest.mark.anyio
async def test_encode_and_embed_agree(embedder: ONNXEmbedder) -> None:
    texts = TEXTS[:5]
    np.testing.assert_allclose(embedder.encode(texts), await embedder.embed(texts), atol=1e-6)


@pytest.mark.anyio
async def test_concurrent_calls(embedder: ONNXEmbedder) -> None:
    results = await asyncio.gather(*(embedder.embed([text]) for text in TEXTS[:8]))
    np.testing.assert_allclose(np.concatenate(results), embedder.encode(TEXTS[:8]), atol=1e-5)


@pytest.mark.anyio
async def test_paraphrase_scores_above_unrelated(embedder: ONNXEmbedder) -> None:
    a, b, c = await embedder.embed(
        [
            "How do I reset my password?",
            "I forgot my password, how can I change it?",
            "What is the population of Canada?",
        ]
    )
    assert float(a @ b) > float(a @ c) + 0.2


def test_long_texts_are_truncated(embedder: ONNXEmbedder) -> None:
    assert len(LONG.split()) > 256
    first, extended = embedder.encode([LONG, LONG + " Anything said after the limit is ignored."])
    np.testing.assert_allclose(first, extended, atol=1e-6)


def test_encode_rejects_a_single_string(embedder: ONNXEmbedder) -> None:
    with pytest.raises(TypeError):
        embedder.encode("not a list")


@pytest.mark.anyio
async def test_closed_embedder_refuses() -> None:
    embedder = ONNXEmbedder.from_directory(DEFAULT_MODEL_DIR, threads=1)
    await embedder.close()
    with pytest.raises(EmbeddingError):
        await embedder.embed(["hello"])


@pytest.mark.anyio
async def test_threads_are_model_calls_side_by_side() -> None:
    embedder = ONNXEmbedder.from_directory(DEFAULT_MODEL_DIR, threads=2)
    try:
        assert embedder.batcher.concurrency == 2
        first = asyncio.ensure_future(embedder.embed([LONG] * 32))
        while embedder.batcher.stats.calls == 0:
            await asyncio.sleep(0)
        second = await embedder.embed(TEXTS[:4])
        assert not first.done()  # the second call did not wait for the first
        np.testing.assert_allclose(second, embedder.encode(TEXTS[:4]), atol=1e-6)
        np.testing.assert_allclose(await first, embedder.encode([LONG] * 32), atol=1e-6)
        assert embedder.batcher.stats.calls == 2
    finally:
        await embedder.close()


@pytest.mark.anyio
async def test_a_lone_call_stays_on_one_core() -> None:
    embedder = ONNXEmbedder.from_directory(threads=2)
    assert embedder._sessions.size == 2
    assert embedder._sessions._spread is None
    await embedder.close()


def test_invalid_threads() -> None:
    with pytest.raises(ConfigError, match="threads must be at least 1, got 0"):
        ONNXEmbedder.from_directory(DEFAULT_MODEL_DIR, threads=0)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"model\.json"):
        ONNXEmbedder.from_directory(tmp_path / "nowhere")


def test_damaged_model_file(tmp_path: Path) -> None:
    info = json.loads((DEFAULT_MODEL_DIR / "model.json").read_text("utf-8"))
    info["sha256"]["model.onnx"] = "0" * 64
    (tmp_path / "model.json").write_text(json.dumps(info), "utf-8")
    for name in ("model.onnx", "tokenizer.json"):
        (tmp_path / name).symlink_to(DEFAULT_MODEL_DIR / name)
    with pytest.raises(ConfigError, match="sha256"):
        ONNXEmbedder.from_directory(tmp_path)


def test_runtime_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from semcache.embedding.onnx import ONNXEmbedder\n"
        "ONNXEmbedder.from_directory().encode(['hello'])\n"
        "heavy = {'torch', 'transformers', 'sentence_transformers'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.anyio
async def test_concurrent_calls_share_a_model_call(embedder: ONNXEmbedder) -> None:
    texts = TEXTS[:8]
    calls = embedder.batcher.stats.calls
    vectors = await asyncio.gather(*(embedder.embed([text]) for text in texts))
    assert embedder.batcher.stats.calls == calls + 1
    np.testing.assert_allclose(np.concatenate(vectors), embedder.encode(texts), atol=1e-5)
