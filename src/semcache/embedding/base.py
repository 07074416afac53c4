"""The embedder interface: text in, unit-length vectors out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np

from semcache.embedding.prompt_cache import PromptCache
from semcache.types import Vector, Vectors

__all__ = ["DEFAULT_THRESHOLD", "Embedder", "normalize"]

DEFAULT_THRESHOLD = 0.85
"""Similarity threshold used when neither the request nor the cache sets one."""


def normalize(vectors: Vectors) -> Vectors:
    """Scale each row to unit length (rows of zeros stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    normalized: Vectors = (vectors / norms).astype(np.float32, copy=False)
    return normalized


class Embedder(ABC):
    """Turns prompts into unit-length vectors of a fixed dimension.

    Subclasses implement `_embed` for one batch; `embed` normalises the result. An
    embedder is built before the server accepts requests, so no request waits for a model
    to load. With a `prompt_cache`, prompts embedded lately are answered from it and only
    the others reach `_embed`.

    Example::

        vectors = await embedder.embed(["What is semantic caching?"])
        assert vectors.shape == (1, embedder.dimension)
    """

    name: str
    dimension: int
    default_threshold: float = DEFAULT_THRESHOLD
    prompt_cache: PromptCache | None = None
    """Vectors of recently embedded prompts; None embeds every prompt every time."""
    batch_observer: Callable[[int], None] | None = None
    """Told how many prompts each call of the model embeds (for metrics), if set."""

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """One unit vector per text, in order, as a float32 array of shape (n, dimension)."""
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        if self.prompt_cache is None:
            return normalize(await self._embed(list(texts)))
        return await self._embed_cached(list(texts), self.prompt_cache)

    async def _embed_cached(self, texts: list[str], cache: PromptCache) -> Vectors:
        found = [cache.get(text) for text in texts]
        missing = list(dict.fromkeys(t for t, v in zip(texts, found, strict=True) if v is None))
        computed: dict[str, Vector] = {}
        if missing:
            computed = dict(zip(missing, normalize(await self._embed(missing)), strict=True))
            for text, vector in computed.items():
                cache.put(text, vector)
        rows = [computed[t] if v is None else v for t, v in zip(texts, found, strict=True)]
        stacked: Vectors = np.stack(rows)
        return stacked

    def split(self, text: str) -> list[str]:
        """The consecutive pieces of ``text`` that the model reads whole: ``[text]`` unless
        the text is longer than the model's window, of which `embed` sees only the first."""
        return [text]

    @abstractmethod
    async def _embed(self, texts: list[str]) -> Vectors:
        """Vectors for a non-empty batch, not necessarily normalised."""

    async def close(self) -> None:
        """Release the model's resources."""
        return None
