"""Local embedding models on ONNX Runtime, tokenised with the ``tokenizers`` library."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Encoding, Tokenizer

from semcache.embedding._sessions import SessionPool
from semcache.embedding.base import Embedder, normalize
from semcache.embedding.batching import BatchOptions, MicroBatcher
from semcache.errors import ConfigError, EmbeddingError
from semcache.types import Vector, Vectors

__all__ = ["DEFAULT_CHUNK_SIZE", "DEFAULT_MODEL_DIR", "ONNXEmbedder", "plan_chunks"]

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "all-MiniLM-L6-v2"
"""The model shipped with semcache: all-MiniLM-L6-v2 with int8 weights and activations."""

DEFAULT_CHUNK_SIZE = 64
"""Most texts given to the model in one call; bounds the memory a long batch takes."""

_CALL_COST = 8
"""The fixed cost of a model call, in tokens of work (measured: about 0.2 ms against
0.09 ms a token on one core)."""

_OUTPUT = "sentence_embedding"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True, slots=True)
class _ModelInfo:
    name: str
    dimension: int
    max_tokens: int
    sha256: str

    @classmethod
    def read(cls, directory: Path) -> _ModelInfo:
        path = directory / "model.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            info = cls(
                name=str(data["name"]),
                dimension=int(data["dimension"]),
                max_tokens=int(data["max_tokens"]),
                sha256=str(data["sha256"]["model.onnx"]),
            )
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path} is malformed: {exc!r}") from exc
        if info.dimension < 1 or info.max_tokens < 2:
            raise ConfigError(f"{path}: dimension and max_tokens must be positive")
        return info


class ONNXEmbedder(Embedder):
    """A sentence-embedding model run in-process by ONNX Runtime.

    A model directory holds ``model.onnx`` (inputs ``input_ids``, ``attention_mask`` and
    optionally ``token_type_ids``; output ``sentence_embedding``, one pooled vector per
    text), ``tokenizer.json`` and ``model.json`` (name, dimension, max_tokens, sha256).
    Texts longer than ``max_tokens`` tokens are truncated.

    `embed` runs the model on threads of its own (a `SessionPool`, one single-threaded
    session per core), so the event loop keeps serving; concurrent calls are gathered
    into shared model calls by a `MicroBatcher` (``batching``), as many calls at once as
    there are sessions. `encode` is the same computation, synchronous and unbatched, for
    scripts.

    Example::

        embedder = ONNXEmbedder.from_directory(DEFAULT_MODEL_DIR)
        vectors = await embedder.embed(["How do I reset my password?"])
        await embedder.close()
    """

    def __init__(
        self,
        sessions: SessionPool,
        tokenizer: Tokenizer,
        *,
        name: str,
        dimension: int,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        batching: BatchOptions | None = None,
    ) -> None:
        if chunk_size < 1:
            raise ConfigError(f"chunk_size must be at least 1, got {chunk_size}")
        self.name = name
        self.dimension = dimension
        self.chunk_size = chunk_size
        self._sessions = sessions
        self._tokenizer = tokenizer
        self._inputs = [i.name for i in sessions.first.get_inputs()]
        self._batcher: MicroBatcher[str, Vector] = MicroBatcher(
            self._embed_batch,
            options=batching,
            name=f"the model {name!r}",
            concurrency=sessions.size,
        )
        self._closed = False

    @classmethod
    def from_directory(
        cls,
        path: str | os.PathLike[str] = DEFAULT_MODEL_DIR,
        *,
        threads: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        batching: BatchOptions | None = None,
    ) -> ONNXEmbedder:
        """Load a model directory, check it, and run it once so no request waits for it.

        Args:
            path: the model directory (default: the model shipped with semcache).
            threads: model calls that run at once, each on one core (default: one per
                core).
            chunk_size: most texts given to the model in one call.
            batching: how concurrent `embed` calls are gathered into model calls.

        Raises:
            ConfigError: a file is missing, malformed or fails its checksum, or an
                option is out of range.
        """
        directory = Path(path)
        info = _ModelInfo.read(directory)
        model_path = directory / "model.onnx"
        _check_sha256(model_path, info.sha256)
        tokenizer = _load_tokenizer(directory / "tokenizer.json", info.max_tokens)
        # No session spread over every core for a lone call: with the shipped model, whose
        # int8 activations are quantised by small nodes, one core was quicker (bench/ab.py).
        sessions = SessionPool.load(model_path, threads, thread_name="semcache-embed", spread=False)
        outputs = {o.name: o.shape for o in sessions.first.get_outputs()}
        if _OUTPUT not in outputs:
            raise ConfigError(f"{model_path} has no output named {_OUTPUT!r}")
        width = outputs[_OUTPUT][-1]
        if isinstance(width, int) and width != info.dimension:
            raise ConfigError(
                f"{model_path} gives {width} dimensions, model.json says {info.dimension}"
            )
        embedder = cls(
            sessions,
            tokenizer,
            name=info.name,
            dimension=info.dimension,
            chunk_size=chunk_size,
            batching=batching,
        )
        sessions.warm([_OUTPUT], embedder._feed(tokenizer.encode_batch(["warm-up"])))
        return embedder

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors for ``texts``, computed on the calling thread.

        Returns:
            A float32 array of shape ``(len(texts), dimension)``, one row per text, in order.

        Raises:
            EmbeddingError: ONNX Runtime failed.
        """
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of texts, not a single str")
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        return normalize(self._forward(texts))

    def split(self, text: str) -> list[str]:
        """Pieces of at most ``max_tokens`` tokens, in order; `embed` reads only the first."""
        window = (self._tokenizer.truncation or {}).get("max_length")
        # A token covers at least one character, so a short text cannot overflow.
        if window is None or len(text) <= window - 2:
            return [text]
        encoding = self._tokenizer.encode(text)
        pieces = []
        for part in (encoding, *encoding.overflowing):
            marks = zip(part.offsets, part.special_tokens_mask, strict=True)
            spans = [offsets for offsets, special in marks if not special]
            if spans:
                pieces.append(text[spans[0][0] : spans[-1][1]])
        return pieces or [text]

    @property
    def batcher(self) -> MicroBatcher[str, Vector]:
        """The batcher that gathers concurrent `embed` calls (its ``stats`` count them)."""
        return self._batcher

    async def _embed(self, texts: list[str]) -> Vectors:
        if self._closed:
            raise EmbeddingError(f"the embedder {self.name!r} is closed")
        rows = await self._batcher(texts)
        stacked: Vectors = np.stack(rows)
        return stacked

    async def _embed_batch(self, texts: list[str]) -> list[Vector]:
        if self.batch_observer is not None:
            self.batch_observer(len(texts))
        vectors = await self._sessions.call(self._forward, texts)
        return list(vectors)

    async def close(self) -> None:
        """Stop the model's threads; calls already queued still finish."""
        self._closed = True
        self._sessions.close()

    def _forward(self, texts: Sequence[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(list(texts))
        # Texts of similar length share a call, so little of it is spent on padding. A
        # text's vector does not depend on its neighbours, so the order is free.
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        lengths = [len(encodings[i].ids) for i in order]
        vectors = np.empty((len(encodings), self.dimension), dtype=np.float32)
        for start, end in plan_chunks(lengths, self.chunk_size):
            rows = order[start:end]
            vectors[rows] = self._run([encodings[i] for i in rows])
        return vectors

    def _run(self, encodings: list[Encoding]) -> Vectors:
        try:
            outputs = self._sessions.run([_OUTPUT], self._feed(encodings))
        except Exception as exc:
            raise EmbeddingError(f"the model {self.name!r} failed: {exc}") from exc
        return np.asarray(outputs[0], dtype=np.float32)

    def _feed(self, encodings: list[Encoding]) -> dict[str, np.ndarray]:
        width = max(len(e.ids) for e in encodings)
        # Padding is masked out of attention and of the mean, so its id does not matter.
        arrays = {name: np.zeros((len(encodings), width), dtype=np.int64) for name in _INPUTS}
        for row, encoding in enumerate(encodings):
            length = len(encoding.ids)
            arrays["input_ids"][row, :length] = encoding.ids
            arrays["attention_mask"][row, :length] = encoding.attention_mask
            arrays["token_type_ids"][row, :length] = encoding.type_ids
        return {name: arrays[name] for name in self._inputs}


def plan_chunks(
    lengths: Sequence[int], chunk_size: int, *, call_cost: int = _CALL_COST
) -> list[tuple[int, int]]:
    """Cut texts sorted by token count into model calls: ``(start, end)`` ranges of at
    most ``chunk_size``, each padded to its longest text.

    A call's work grows with rows x longest length; each call also costs about
    ``call_cost`` tokens' worth of fixed overhead. A new call starts where padding the
    current one to the next length would waste more than that.
    """
    chunks: list[tuple[int, int]] = []
    start = 0
    for end in range(1, len(lengths) + 1):
        if end == len(lengths):
            chunks.append((start, end))
        elif (
            end - start == chunk_size
            or (end - start) * (lengths[end] - lengths[end - 1]) > call_cost
        ):
            chunks.append((start, end))
            start = end
    return chunks


def _check_sha256(path: Path, expected: str) -> None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    if digest.hexdigest() != expected:
        raise ConfigError(
            f"{path} does not match the sha256 in model.json; it is damaged or incomplete "
            "(a Git LFS pointer, say): reinstall semcache or run scripts/export_model.py"
        )


def _load_tokenizer(path: Path, max_tokens: int) -> Tokenizer:
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:
        raise ConfigError(f"cannot load the tokenizer {path}: {exc}") from exc
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.no_padding()  # each call pads to its longest text
    return tokenizer
