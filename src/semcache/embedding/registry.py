"""Embedders by name: the models shipped in the package, and remote endpoints."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from semcache.embedding.base import Embedder
from semcache.embedding.batching import BatchOptions
from semcache.embedding.prompt_cache import DEFAULT_PROMPT_CACHE_SIZE, PromptCache
from semcache.errors import ConfigError

__all__ = ["DEFAULT_EMBEDDER", "MODELS_DIR", "EmbedderRegistry"]

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
_REMOTE_PREFIX = "openai:"


class EmbedderRegistry(Mapping[str, Embedder]):
    """Gives the embedder for a name, loading it the first time it is asked for.

    A name is either a model directory under ``models_dir`` (``all-MiniLM-L6-v2``) or
    ``openai:<model>@<base URL>`` for an OpenAI-compatible embeddings endpoint. Each
    embedder it loads gets a `PromptCache` of ``prompt_cache_size`` prompts (none at 0);
    local models gather concurrent calls as ``batching`` says.
    """

    def __init__(
        self,
        *,
        models_dir: Path = MODELS_DIR,
        threads: int | None = None,
        openai_api_key: str | None = None,
        batching: BatchOptions | None = None,
        prompt_cache_size: int = DEFAULT_PROMPT_CACHE_SIZE,
    ) -> None:
        if prompt_cache_size < 0:
            raise ConfigError(f"prompt_cache_size must be at least 0, got {prompt_cache_size}")
        self.models_dir = models_dir
        self.threads = threads
        self.openai_api_key = openai_api_key
        self.batching = batching
        self.prompt_cache_size = prompt_cache_size
        self._loaded: dict[str, Embedder] = {}
        self._batch_observer: Callable[[int], None] | None = None

    def observe_batches(self, observer: Callable[[int], None]) -> None:
        """Tell ``observer`` the size of every model call, of embedders loaded already and
        of those loaded later."""
        self._batch_observer = observer
        for embedder in self._loaded.values():
            embedder.batch_observer = observer

    def register(self, name: str, embedder: Embedder) -> None:
        """Make ``name`` give this embedder, already built (a test's fake, say)."""
        self._loaded[name] = embedder

    def is_known(self, name: str) -> bool:
        """True when ``name`` is loaded, names a shipped model or is a well-formed remote name."""
        if name in self._loaded:
            return True
        if name.startswith(_REMOTE_PREFIX):
            return _parse_remote(name) is not None
        return (self.models_dir / name / "model.onnx").is_file()

    def local_names(self) -> list[str]:
        return sorted(p.parent.name for p in self.models_dir.glob("*/model.onnx"))

    def __getitem__(self, name: str) -> Embedder:
        if name not in self._loaded:
            embedder = self._load(name)
            if self.prompt_cache_size:
                embedder.prompt_cache = PromptCache(self.prompt_cache_size)
            embedder.batch_observer = self._batch_observer
            self._loaded[name] = embedder
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded)

    def __len__(self) -> int:
        return len(self._loaded)

    async def close(self) -> None:
        for embedder in self._loaded.values():
            await embedder.close()
        self._loaded.clear()

    def _load(self, name: str) -> Embedder:
        if not self.is_known(name):
            raise KeyError(name)
        if name.startswith(_REMOTE_PREFIX):
            from semcache.embedding.openai import OpenAIEmbedder

            model, base_url = _parse_remote(name) or ("", "")
            return OpenAIEmbedder(base_url, model=model, api_key=self.openai_api_key)
        from semcache.embedding.onnx import ONNXEmbedder

        try:
            return ONNXEmbedder.from_directory(
                self.models_dir / name, threads=self.threads, batching=self.batching
            )
        except Exception as exc:
            raise ConfigError(f"cannot load the model {name!r}: {exc}") from exc


def _parse_remote(name: str) -> tuple[str, str] | None:
    model, at, base_url = name.removeprefix(_REMOTE_PREFIX).partition("@")
    if not (model and at and base_url.startswith(("http://", "https://"))):
        return None
    return model, base_url
