"""Turning a follow-up question and its conversation into one standalone question.

Conversational search sends the earlier questions with the new one. With a chat model
configured (any OpenAI-compatible ``/v1/chat/completions`` endpoint) they are rewritten
into one question that makes sense alone, and that question is what the cache searches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import httpx

from semcache.errors import EmbeddingError

__all__ = ["ChatRewriter", "QueryRewriter"]

_INSTRUCTIONS = (
    "Rewrite the user's last question so that it can be understood without the "
    "conversation. Keep its meaning and language; resolve pronouns and references from "
    "the earlier questions. Answer with the rewritten question only."
)


class QueryRewriter(Protocol):
    async def rewrite(self, prompt: str, context: Sequence[str]) -> str:
        """The standalone form of ``prompt``, given the earlier questions, oldest first."""
        ...


class ChatRewriter:
    """A `QueryRewriter` that asks an OpenAI-compatible chat completions endpoint."""

    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        api_key: str | None = None,
        timeout_seconds: float = 3.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.model = model
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            headers=headers,
            timeout=timeout_seconds,
            transport=transport,
        )

    async def rewrite(self, prompt: str, context: Sequence[str]) -> str:
        earlier = "\n".join(f"- {question}" for question in context)
        body = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": _INSTRUCTIONS},
                {"role": "user", "content": f"Earlier questions:\n{earlier}\n\nLast: {prompt}"},
            ],
        }
        try:
            response = await self._client.post("chat/completions", json=body)
            response.raise_for_status()
            text = response.json()["choices"][0]["message"]["content"]
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise EmbeddingError(f"the query rewriting model failed: {exc}") from exc
        rewritten = str(text).strip()
        return rewritten or prompt

    async def close(self) -> None:
        await self._client.aclose()
