"""Creating, listing and deleting caches."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from semcache.core import rules
from semcache.core.models import DEFAULT_LIMITS, Limits
from semcache.errors import CacheNotFound, InvalidRequest, RequestError
from semcache.store.base import CacheConfig, Store
from semcache.types import CacheId, Millis

__all__ = ["CacheAdmin", "CacheConflict", "CacheSpec", "CacheSummary"]

_CACHE_ID = re.compile(r"[A-Za-z0-9]{1,64}")


class CacheConflict(RequestError):
    status_code = 409
    title = "Conflict"


@dataclass(frozen=True, slots=True)
class CacheSpec:
    """What a new cache should be; ``None`` fields take the defaults.

    ``attributes`` of ``None`` accepts any attribute names; an empty tuple accepts none.
    """

    name: str = ""
    id: CacheId | None = None
    attributes: tuple[str, ...] | None = None
    similarity_threshold: float | None = None
    ttl_millis: Millis | None = None
    embedder: str | None = None
    verifier: str | None = None
    """A verifier's name, or ``"off"``; ``None`` follows the server's default verifier."""


@dataclass(frozen=True, slots=True)
class CacheSummary:
    cache: CacheConfig
    entries: int


class CacheAdmin:
    """Manages caches; keys are `semcache.core.keys.KeyService`'s business."""

    def __init__(
        self,
        store: Store,
        *,
        is_known_embedder: Callable[[str], bool],
        default_embedder: str,
        is_known_verifier: Callable[[str], bool] = lambda name: name == "off",
        clock: Callable[[], Millis],
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.store = store
        self.is_known_embedder = is_known_embedder
        self.is_known_verifier = is_known_verifier
        self.default_embedder = default_embedder
        self.clock = clock
        self.limits = limits

    async def create(self, spec: CacheSpec) -> CacheConfig:
        config = self._config(spec)
        if not await self.store.create_cache(config):
            raise CacheConflict(f"a cache with ID {config.id!r} already exists")
        return config

    async def create_first(self, spec: CacheSpec) -> CacheConfig | None:
        """Create the cache only if the store has none, atomically for every process
        sharing the store; None if it had one."""
        config = self._config(spec)
        return config if await self.store.create_cache(config, if_no_caches=True) else None

    def _config(self, spec: CacheSpec) -> CacheConfig:
        config = CacheConfig(
            id=uuid.uuid4().hex if spec.id is None else spec.id,
            name=spec.name,
            embedder=spec.embedder or self.default_embedder,
            created_at=self.clock(),
            attributes=spec.attributes,
            similarity_threshold=spec.similarity_threshold,
            ttl_millis=spec.ttl_millis,
            options={} if spec.verifier is None else {"verifier": spec.verifier},
        )
        self._check(config)
        return config

    async def get(self, cache_id: CacheId) -> CacheConfig:
        cache = await self.store.get_cache(cache_id)
        if cache is None:
            raise CacheNotFound(cache_id)
        return cache

    async def summary(self, cache_id: CacheId) -> CacheSummary:
        cache = await self.get(cache_id)
        return CacheSummary(cache, await self.store.count(cache_id, now=self.clock()))

    async def list(self) -> list[CacheConfig]:
        return await self.store.list_caches()

    async def delete(self, cache_id: CacheId) -> None:
        if not await self.store.delete_cache(cache_id):
            raise CacheNotFound(cache_id)

    def _check(self, config: CacheConfig) -> None:
        if not _CACHE_ID.fullmatch(config.id):
            raise InvalidRequest.for_field(
                "id", "pattern", f"cache IDs are 1 to 64 letters or digits, got {config.id!r}"
            )
        if not self.is_known_embedder(config.embedder):
            raise InvalidRequest.for_field(
                "embedder",
                "unknown",
                f"unknown embedder {config.embedder!r}: give a shipped model's name or "
                "'openai:<model>@<base URL>'",
            )
        verifier = config.options.get("verifier")
        if verifier is not None and not self.is_known_verifier(verifier):
            raise InvalidRequest.for_field(
                "verifier",
                "unknown",
                f"unknown verifier {verifier!r}: give a shipped verifier's name or 'off'",
            )
        rules.check_threshold(config.similarity_threshold)
        if config.ttl_millis is not None:
            rules.check_ttl(config.ttl_millis, self.limits)
        if config.attributes:
            self._check_attribute_names(config.attributes)

    def _check_attribute_names(self, names: tuple[str, ...]) -> None:
        if len(set(names)) != len(names):
            raise InvalidRequest.for_field("attributes", "unique", "attribute names repeat")
        any_cache = CacheConfig(id="", name="", embedder="", created_at=0)
        rules.check_attributes(dict.fromkeys(names, "x"), any_cache, self.limits)
