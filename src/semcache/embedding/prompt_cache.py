"""A bounded cache of prompt embeddings, so that a repeated prompt skips the model."""

from __future__ import annotations

from collections import OrderedDict

from semcache.errors import ConfigError
from semcache.types import Vector

__all__ = ["DEFAULT_PROMPT_CACHE_SIZE", "PromptCache"]

DEFAULT_PROMPT_CACHE_SIZE = 4096
"""Prompts remembered per embedder: about 6 MB of 384-dimension vectors."""


class PromptCache:
    """The unit vectors of the ``capacity`` most recently used prompts.

    A prompt is its exact text: ``"Hi"`` and ``"hi"`` are two entries. Vectors are kept
    read-only, so no caller can change what another is given. Not thread-safe: it lives on
    the event loop with the embedder that owns it.
    """

    def __init__(self, capacity: int = DEFAULT_PROMPT_CACHE_SIZE) -> None:
        if capacity < 1:
            raise ConfigError(f"the prompt cache needs a capacity of at least 1, got {capacity}")
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._vectors: OrderedDict[str, Vector] = OrderedDict()

    def __len__(self) -> int:
        return len(self._vectors)

    def get(self, text: str) -> Vector | None:
        """The vector of ``text`` if it is cached (it becomes the most recently used)."""
        vector = self._vectors.get(text)
        if vector is None:
            self.misses += 1
            return None
        self._vectors.move_to_end(text)
        self.hits += 1
        return vector

    def put(self, text: str, vector: Vector) -> None:
        """Remember ``vector`` for ``text``, forgetting the least recently used beyond
        the capacity."""
        held = vector.copy()
        held.flags.writeable = False
        self._vectors[text] = held
        self._vectors.move_to_end(text)
        while len(self._vectors) > self.capacity:
            self._vectors.popitem(last=False)

    def clear(self) -> None:
        self._vectors.clear()
