"""Hit verifiers: models that read a new prompt and a stored one together and score how
likely they are to ask the same question.

An embedder compares two vectors made separately, so "with" and "without", "MySQL to
PostgreSQL" and "PostgreSQL to MySQL" look alike to it. A verifier (a cross-encoder) sees
both texts at once; the cache service asks it about the few best candidates of a search.
"""

from __future__ import annotations

import json
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

from semcache.embedding._sessions import SessionPool
from semcache.embedding.onnx import _check_sha256
from semcache.errors import ConfigError, EmbeddingError

__all__ = [
    "DEFAULT_VERIFIER",
    "DEFAULT_VERIFIER_DIR",
    "VERIFIER_OFF",
    "ONNXVerifier",
    "Scores",
    "Verifier",
    "VerifierRegistry",
]

DEFAULT_VERIFIER = "MiniLM-L6-same-question"
"""The verifier that ``scripts/train_verifier.py`` makes in the models directory. It is not
shipped, and hits are decided by cosine similarity unless a setting or a cache names it."""

DEFAULT_VERIFIER_DIR = Path(__file__).resolve().parent.parent / "models" / DEFAULT_VERIFIER

VERIFIER_OFF = "off"
"""The name that switches verification off: hits are then decided by cosine similarity."""

Scores = npt.NDArray[np.float64]
_MODELS_DIR = DEFAULT_VERIFIER_DIR.parent
_OUTPUT = "score"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_CHUNK_SIZE = 64


class Verifier(ABC):
    """Scores pairs of texts from 0 (different questions) to 1 (the same question).

    Subclasses implement `_score` for one batch. A verifier is built before the server
    accepts requests.

    Example::

        scores = await verifier.score([("How do I boil an egg?", "How to boil eggs?")])
        assert 0.0 <= scores[0] <= 1.0
    """

    name: str
    default_threshold: float
    min_cosine: Mapping[str, float]
    """Per embedder name, the cosine similarity below which a candidate is not worth
    verifying: duplicates almost never score lower."""

    async def score(self, pairs: Sequence[tuple[str, str]]) -> Scores:
        """One score in [0, 1] per (new prompt, stored prompt) pair, in order."""
        if not pairs:
            return np.empty(0, dtype=np.float64)
        return await self._score(list(pairs))

    @abstractmethod
    async def _score(self, pairs: list[tuple[str, str]]) -> Scores:
        """Scores for a non-empty batch."""

    async def close(self) -> None:
        """Release the model's resources."""
        return None


@dataclass(frozen=True, slots=True)
class _VerifierInfo:
    name: str
    max_tokens: int
    default_threshold: float
    min_cosine: dict[str, float]
    tokenizer: str
    sha256: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, directory: Path) -> _VerifierInfo:
        path = directory / "verifier.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            info = cls(
                name=str(data["name"]),
                max_tokens=int(data["max_tokens"]),
                default_threshold=float(data["default_threshold"]),
                min_cosine={str(k): float(v) for k, v in data.get("min_cosine", {}).items()},
                tokenizer=str(data.get("tokenizer", "tokenizer.json")),
                sha256={str(k): str(v) for k, v in data["sha256"].items()},
            )
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{path} is malformed: {exc!r}") from exc
        if info.max_tokens < 8 or not 0.0 <= info.default_threshold <= 1.0:
            raise ConfigError(f"{path}: max_tokens or default_threshold is out of range")
        return info


class ONNXVerifier(Verifier):
    """A cross-encoder run in-process by ONNX Runtime.

    A model directory holds ``verifier.onnx`` (inputs ``input_ids``, ``attention_mask``,
    ``token_type_ids``; output ``score``, one calibrated probability per pair) and
    ``verifier.json`` (name, ``max_tokens``, ``default_threshold``, ``min_cosine``, the
    tokenizer's path and sha256 digests).

    A pair is read as ``[CLS] prompt [SEP] stored [SEP]``. When the two texts do not fit in
    ``max_tokens`` together, each is cut into the same number of consecutive pieces that do,
    the pieces are scored in order (first with first, second with second, ...), and the
    pair gets the lowest of those scores: two long prompts are the same question only if
    every part of them agrees, not only their beginnings.

    `score` runs the model on threads of its own (a `SessionPool`, one single-threaded
    session per core), as many calls at once as there are sessions; `compute` is the
    same, synchronous.
    """

    def __init__(
        self,
        sessions: SessionPool,
        tokenizer: Tokenizer,
        *,
        name: str,
        max_tokens: int,
        default_threshold: float,
        min_cosine: Mapping[str, float] | None = None,
    ) -> None:
        self.name = name
        self.max_tokens = max_tokens
        self.default_threshold = default_threshold
        self.min_cosine = dict(min_cosine or {})
        self._sessions = sessions
        self._tokenizer = tokenizer
        self._cls = _special_id(tokenizer, "[CLS]")
        self._sep = _special_id(tokenizer, "[SEP]")
        self._closed = False

    @classmethod
    def from_directory(
        cls, path: str | os.PathLike[str], *, threads: int | None = None
    ) -> ONNXVerifier:
        """Load a verifier directory, check it, and run it once.

        Raises:
            ConfigError: a file is missing, malformed or fails its checksum.
        """
        directory = Path(path)
        info = _VerifierInfo.read(directory)
        model_path = directory / "verifier.onnx"
        tokenizer_path = (directory / info.tokenizer).resolve()
        _check_sha256(model_path, info.sha256.get("verifier.onnx", ""))
        if "tokenizer.json" in info.sha256:
            _check_sha256(tokenizer_path, info.sha256["tokenizer.json"])
        try:
            tokenizer = Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:
            raise ConfigError(f"cannot load the tokenizer {tokenizer_path}: {exc}") from exc
        tokenizer.no_truncation()
        tokenizer.no_padding()
        sessions = SessionPool.load(model_path, threads, thread_name="semcache-verify")
        if _OUTPUT not in {o.name for o in sessions.first.get_outputs()}:
            raise ConfigError(f"{model_path} has no output named {_OUTPUT!r}")
        verifier = cls(
            sessions,
            tokenizer,
            name=info.name,
            max_tokens=info.max_tokens,
            default_threshold=info.default_threshold,
            min_cosine=info.min_cosine,
        )
        first, second = tokenizer.encode_batch(["warm-up", "warm up"], add_special_tokens=False)
        sessions.warm([_OUTPUT], _feed(*verifier._rows([(first.ids, second.ids)])))
        return verifier

    def compute(self, pairs: Sequence[tuple[str, str]]) -> Scores:
        """Scores for ``pairs``, computed on the calling thread.

        Raises:
            EmbeddingError: ONNX Runtime failed.
        """
        if not pairs:
            return np.empty(0, dtype=np.float64)
        texts = [text for pair in pairs for text in pair]
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        ids = [e.ids for e in encodings]
        owners: list[int] = []
        pieces: list[tuple[list[int], list[int]]] = []
        for index in range(len(pairs)):
            for piece in self._pieces(ids[2 * index], ids[2 * index + 1]):
                owners.append(index)
                pieces.append(piece)
        piece_scores = self._forward(pieces)
        scores = np.ones(len(pairs), dtype=np.float64)
        np.minimum.at(scores, np.array(owners), piece_scores)
        return scores

    async def _score(self, pairs: list[tuple[str, str]]) -> Scores:
        if self._closed:
            raise EmbeddingError(f"the verifier {self.name!r} is closed")
        return await self._sessions.call(self.compute, pairs)

    async def close(self) -> None:
        """Stop the model's threads; calls already queued still finish."""
        self._closed = True
        self._sessions.close()

    def _pieces(self, first: list[int], second: list[int]) -> Iterator[tuple[list[int], list[int]]]:
        room = self.max_tokens - 3  # [CLS] and two [SEP]
        if len(first) + len(second) <= room:
            yield first, second
            return
        half = room // 2
        count = max(math.ceil(len(first) / half), math.ceil(len(second) / half))
        yield from zip(_split(first, count), _split(second, count), strict=True)

    def _rows(
        self, pieces: list[tuple[list[int], list[int]]]
    ) -> tuple[list[list[int]], list[list[int]]]:
        """The model's rows, ``[CLS] a [SEP] b [SEP]``, and their token types."""
        rows = [[self._cls, *a, self._sep, *b, self._sep] for a, b in pieces]
        types = [[0] * (len(a) + 2) + [1] * (len(b) + 1) for a, b in pieces]
        return rows, types

    def _forward(self, pieces: list[tuple[list[int], list[int]]]) -> Scores:
        rows, types = self._rows(pieces)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        scores = np.empty(len(rows), dtype=np.float64)
        for start in range(0, len(order), _CHUNK_SIZE):
            chunk = order[start : start + _CHUNK_SIZE]
            scores[chunk] = self._run([rows[i] for i in chunk], [types[i] for i in chunk])
        return scores

    def _run(self, rows: list[list[int]], types: list[list[int]]) -> Scores:
        try:
            outputs: list[Any] = self._sessions.run([_OUTPUT], _feed(rows, types))
        except Exception as exc:
            raise EmbeddingError(f"the verifier {self.name!r} failed: {exc}") from exc
        return np.clip(np.asarray(outputs[0], dtype=np.float64).reshape(-1), 0.0, 1.0)


def _feed(rows: list[list[int]], types: list[list[int]]) -> dict[str, np.ndarray]:
    width = max(len(row) for row in rows)
    arrays = {name: np.zeros((len(rows), width), dtype=np.int64) for name in _INPUTS}
    for i, (row, kinds) in enumerate(zip(rows, types, strict=True)):
        arrays["input_ids"][i, : len(row)] = row
        arrays["attention_mask"][i, : len(row)] = 1
        arrays["token_type_ids"][i, : len(row)] = kinds
    return arrays


def _split(ids: list[int], count: int) -> list[list[int]]:
    """``count`` consecutive pieces of nearly equal length (some empty if ids are few)."""
    bounds = [round(i * len(ids) / count) for i in range(count + 1)]
    return [ids[bounds[i] : bounds[i + 1]] for i in range(count)]


def _special_id(tokenizer: Tokenizer, token: str) -> int:
    found = tokenizer.token_to_id(token)
    if found is None:
        raise ConfigError(f"the verifier's tokenizer has no {token} token")
    return int(found)


class VerifierRegistry(Mapping[str, Verifier]):
    """Gives the verifier for a name, loading it the first time it is asked for.

    A name is a directory under ``models_dir`` holding ``verifier.onnx``.
    """

    def __init__(self, *, models_dir: Path = _MODELS_DIR, threads: int | None = None) -> None:
        self.models_dir = models_dir
        self.threads = threads
        self._loaded: dict[str, Verifier] = {}

    def register(self, name: str, verifier: Verifier) -> None:
        """Make ``name`` give this verifier, already built (a test's fake, say)."""
        self._loaded[name] = verifier

    def is_known(self, name: str) -> bool:
        """True for ``"off"``, a loaded verifier or a shipped verifier's directory name."""
        if name == VERIFIER_OFF or name in self._loaded:
            return True
        return "/" not in name and (self.models_dir / name / "verifier.onnx").is_file()

    def local_names(self) -> list[str]:
        return sorted(p.parent.name for p in self.models_dir.glob("*/verifier.onnx"))

    def __getitem__(self, name: str) -> Verifier:
        if name not in self._loaded:
            if name == VERIFIER_OFF or not self.is_known(name):
                raise KeyError(name)
            try:
                self._loaded[name] = ONNXVerifier.from_directory(
                    self.models_dir / name, threads=self.threads
                )
            except ConfigError as exc:
                raise ConfigError(f"cannot load the verifier {name!r}: {exc}") from exc
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded)

    def __len__(self) -> int:
        return len(self._loaded)

    async def close(self) -> None:
        for verifier in self._loaded.values():
            await verifier.close()
        self._loaded.clear()
