"""The services the API and the CLI share, built over one store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from semcache.core.admin import CacheAdmin
from semcache.core.cache import CacheService, now_millis
from semcache.core.keys import KeyService
from semcache.core.models import DEFAULT_LIMITS, Limits
from semcache.embedding.registry import EmbedderRegistry
from semcache.rewriter import QueryRewriter
from semcache.store.base import Store
from semcache.types import Millis

__all__ = ["Services"]


@dataclass(frozen=True, slots=True)
class Services:
    store: Store
    embedders: EmbedderRegistry
    cache: CacheService
    keys: KeyService
    admin: CacheAdmin

    @classmethod
    def build(
        cls,
        store: Store,
        embedders: EmbedderRegistry,
        *,
        default_embedder: str,
        limits: Limits = DEFAULT_LIMITS,
        rewriter: QueryRewriter | None = None,
        clock: Callable[[], Millis] = now_millis,
    ) -> Services:
        return cls(
            store=store,
            embedders=embedders,
            cache=CacheService(store, embedders, limits=limits, rewriter=rewriter, clock=clock),
            keys=KeyService(store, clock=clock),
            admin=CacheAdmin(
                store,
                is_known_embedder=embedders.is_known,
                default_embedder=default_embedder,
                clock=clock,
                limits=limits,
            ),
        )

    async def close(self) -> None:
        await self.embedders.close()
        await self.store.close()
