from __future__ import annotations

import pytest

from semcache.embedding.openai import OpenAIEmbedder
from semcache.errors import EmbeddingError

pytestmark = pytest.mark.anyio


async def test_a_host_that_cannot_be_encoded_is_unreachable_not_a_crash() -> None:
    embedder = OpenAIEmbedder("https://p\u00ab\u00ac\u00b9/v1", model="m")
    with pytest.raises(EmbeddingError, match="unreachable"):
        await embedder.embed(["a prompt"])
    await embedder.close()


async def test_an_empty_host_is_unreachable() -> None:
    embedder = OpenAIEmbedder("https://", model="m")
    with pytest.raises(EmbeddingError, match="unreachable"):
        await embedder.embed(["a prompt"])
    await embedder.close()
