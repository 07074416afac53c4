"""Embeddings from any OpenAI-compatible ``/v1/embeddings`` endpoint."""

from __future__ import annotations

import httpx
import numpy as np

from semcache.embedding.base import Embedder
from semcache.errors import EmbeddingError
from semcache.types import Vectors

__all__ = ["OpenAIEmbedder"]


class OpenAIEmbedder(Embedder):
    """Asks a remote endpoint for embeddings; its dimension is learnt from the first answer.

    Named ``openai:<model>@<base URL>`` in a cache's settings, for example
    ``openai:text-embedding-3-small@https://api.openai.com/v1``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        api_key: str | None = None,
        timeout_seconds: float = 3.0,
    ) -> None:
        self.name = f"openai:{model}@{base_url}"
        self.model = model
        self.dimension = 0
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client: httpx.AsyncClient | None = None
        self._bad_url: str | None = None
        try:
            self._client = httpx.AsyncClient(
                base_url=base_url.rstrip("/") + "/", headers=headers, timeout=timeout_seconds
            )
        except httpx.InvalidURL as exc:  # a host IDNA cannot encode, say: nothing to reach
            self._bad_url = str(exc)

    async def _embed(self, texts: list[str]) -> Vectors:
        if self.batch_observer is not None:
            self.batch_observer(len(texts))
        if self._client is None:
            raise EmbeddingError(f"embedding endpoint unreachable: {self._bad_url}")
        try:
            response = await self._client.post(
                "embeddings", json={"model": self.model, "input": texts}
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise EmbeddingError(f"embedding endpoint unreachable: {exc}") from exc
        if response.status_code in (401, 403):
            raise EmbeddingError(
                "the embedding endpoint refused the API key", reason="unauthorized"
            )
        if response.status_code == 429:
            raise EmbeddingError("the embedding endpoint is rate limiting", reason="rate-limited")
        if response.status_code != 200:
            raise EmbeddingError(f"the embedding endpoint answered {response.status_code}")
        vectors = _parse(response, len(texts))
        self.dimension = vectors.shape[1]
        return vectors

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def _parse(response: httpx.Response, expected: int) -> Vectors:
    try:
        rows = sorted(response.json()["data"], key=lambda row: row["index"])
        vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
    except (KeyError, TypeError, ValueError) as exc:
        raise EmbeddingError(f"malformed answer from the embedding endpoint: {exc}") from exc
    if vectors.ndim != 2 or len(vectors) != expected:
        raise EmbeddingError("the embedding endpoint answered the wrong number of vectors")
    return vectors
