"""The services the API and the CLI share, built over one store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from semcache.core.admin import CacheAdmin
from semcache.core.cache import CacheService, now_millis
from semcache.core.keys import KeyService
from semcache.core.models import DEFAULT_LIMITS, Limits
from semcache.core.ratelimit import RateLimit, RateLimiter
from semcache.embedding.registry import EmbedderRegistry
from semcache.embedding.verifier import VERIFIER_OFF, VerifierRegistry
from semcache.rewriter import QueryRewriter
from semcache.store.base import Store
from semcache.types import Millis

__all__ = ["Services"]


@dataclass(frozen=True, slots=True)
class Services:
    store: Store
    embedders: EmbedderRegistry
    verifiers: VerifierRegistry
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
        verifiers: VerifierRegistry | None = None,
        default_verifier: str = VERIFIER_OFF,
        rate_limit: RateLimit | None = None,
    ) -> Services:
        """Wire the services together. ``default_verifier`` applies to caches that name no
        verifier; by default it is off, and their hits are decided by cosine similarity.
        ``rate_limit`` limits the requests of each API key (none by default)."""
        verifiers = VerifierRegistry() if verifiers is None else verifiers
        return cls(
            store=store,
            embedders=embedders,
            verifiers=verifiers,
            cache=CacheService(
                store,
                embedders,
                limits=limits,
                rewriter=rewriter,
                clock=clock,
                verifiers=verifiers,
                default_verifier=default_verifier,
            ),
            keys=KeyService(
                store,
                clock=clock,
                limiter=RateLimiter(rate_limit) if rate_limit and rate_limit.enabled else None,
            ),
            admin=CacheAdmin(
                store,
                is_known_embedder=embedders.is_known,
                is_known_verifier=verifiers.is_known,
                default_embedder=default_embedder,
                clock=clock,
                limits=limits,
            ),
        )

    async def close(self) -> None:
        await self.verifiers.close()
        await self.embedders.close()
        await self.store.close()
