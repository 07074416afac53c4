"""The composition root: the one place that chooses the store, the embedders and the rewriter."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TypedDict

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from semcache.api.access import AccessMiddleware
from semcache.api.admin import admin_routes
from semcache.api.body_limit import BodyLimitMiddleware
from semcache.api.console import console_routes
from semcache.api.errors import install_error_handlers
from semcache.api.inspection import inspection_routes
from semcache.api.lone_core import LoneCore, LoneCoreMiddleware
from semcache.api.metrics import Metrics, metrics_endpoint
from semcache.api.openapi import openapi_route
from semcache.api.routes import data_routes
from semcache.api.schemas import json_response
from semcache.api.timeout import TimeoutMiddleware
from semcache.config import Settings
from semcache.core.observer import ObserverGroup
from semcache.core.recorder import StatsRecorder
from semcache.core.services import Services
from semcache.core.stats import STATS_RETENTION
from semcache.embedding.registry import EmbedderRegistry
from semcache.embedding.verifier import VERIFIER_OFF, VerifierRegistry
from semcache.errors import ConfigError, SemcacheError
from semcache.rewriter import ChatRewriter
from semcache.store.base import Store
from semcache.store.registry import open_store

__all__ = ["State", "app_from_env", "create_app"]

logger = logging.getLogger(__name__)


class State(TypedDict):
    services: Services
    metrics: Metrics | None
    metrics_public: bool


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    embedders: EmbedderRegistry | None = None,
    verifiers: VerifierRegistry | None = None,
) -> Starlette:
    """The ASGI application. A given ``store``, ``embedders`` or ``verifiers`` is used as is
    and left open at shutdown; otherwise they are made from ``settings`` and closed at
    shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        async with contextlib.AsyncExitStack() as stack:
            services = await _open_services(settings, store, embedders, verifiers, stack)
            await _observe(services, settings, metrics, stack)
            await _load_models(services, settings)
            purger = asyncio.create_task(_purge_expired(services, settings))
            stack.callback(purger.cancel)
            logger.info("semcache is ready")
            yield {
                "services": services,
                "metrics": metrics,
                "metrics_public": settings.metrics_public,
            }

    metrics = Metrics() if settings.metrics else None
    routes = data_routes()
    if settings.admin_api:
        routes += [*admin_routes(), *inspection_routes(), *console_routes()]
    if metrics is not None:
        routes.append(Route("/metrics", metrics_endpoint, methods=["GET"]))
    return Starlette(
        routes=[
            *routes,
            Route("/healthz", _health, methods=["GET"]),
            openapi_route(limits=settings.limits, max_body_bytes=settings.max_body_bytes),
        ],
        middleware=[
            # Outermost, so that every answer is logged and counted, a timeout's 503 too.
            Middleware(AccessMiddleware, observe=None if metrics is None else metrics.request),
            *_lone_core(settings),
            Middleware(TimeoutMiddleware, seconds=settings.request_timeout_seconds),
            Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
        ],
        exception_handlers=install_error_handlers(),
        lifespan=lifespan,
    )


def _lone_core(settings: Settings) -> list[Middleware]:
    # Workers are processes of their own: each would gather onto a core of its choosing,
    # perhaps the same one, while the other cores idle.
    if not settings.one_core_when_alone or settings.workers != 1:
        return []
    return [Middleware(LoneCoreMiddleware, lone_core=LoneCore())]


def app_from_env() -> Starlette:
    """The application configured from ``SEMCACHE_*`` variables, for server worker processes."""
    return create_app(Settings.from_env())


async def _open_services(
    settings: Settings,
    store: Store | None,
    embedders: EmbedderRegistry | None,
    verifiers: VerifierRegistry | None,
    stack: contextlib.AsyncExitStack,
) -> Services:
    if store is None:
        store = await open_store(settings.store_url)
        stack.push_async_callback(store.close)
    if embedders is None:
        embedders = EmbedderRegistry(
            threads=settings.model_threads,
            openai_api_key=settings.openai_api_key,
            batching=settings.batching,
            prompt_cache_size=settings.embedding_cache_size,
        )
        stack.push_async_callback(embedders.close)
    if verifiers is None:
        verifiers = VerifierRegistry(threads=settings.model_threads)
        stack.push_async_callback(verifiers.close)
    rewriter = None
    if settings.rewriter_url:
        rewriter = ChatRewriter(
            settings.rewriter_url, model=settings.rewriter_model, api_key=settings.rewriter_api_key
        )
        stack.push_async_callback(rewriter.close)
    return Services.build(
        store,
        embedders,
        default_embedder=settings.embedder,
        limits=settings.limits,
        rewriter=rewriter,
        verifiers=verifiers,
        default_verifier=settings.verifier,
        rate_limit=settings.rate_limit,
    )


async def _observe(
    services: Services,
    settings: Settings,
    metrics: Metrics | None,
    stack: contextlib.AsyncExitStack,
) -> None:
    """Feed the searches to the statistics recorder (flushed in the background, and once
    more before the store closes) and to the metrics."""
    every = settings.stats_flush_every
    recorder = StatsRecorder(services.store, clock=services.cache.clock)
    services.cache.observer = recorder if metrics is None else ObserverGroup(recorder, metrics)
    if metrics is not None:
        services.embedders.observe_batches(metrics.embedding_batch)
    flusher = asyncio.create_task(recorder.run(every))

    async def stop() -> None:
        flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher

    stack.push_async_callback(stop)


async def _load_models(services: Services, settings: Settings) -> None:
    """Load and warm every local model in use before the first request is accepted."""
    if not services.embedders.is_known(settings.embedder):
        raise ConfigError(
            f"the embedder {settings.embedder!r} (setting 'embedder') is not available; "
            f"shipped models: {', '.join(services.embedders.local_names())}"
        )
    names = {settings.embedder} | {cache.embedder for cache in await services.store.list_caches()}
    for name in sorted(names):
        if name.startswith("openai:"):
            continue
        try:
            await services.embedders[name].embed(["warm up"])
        except KeyError:
            logger.error("embedder %r is not available; caches using it will answer 424", name)
    await _load_verifiers(services, settings)


async def _load_verifiers(services: Services, settings: Settings) -> None:
    """Load and warm the default verifier and every verifier a cache names."""
    if not services.verifiers.is_known(settings.verifier):
        raise ConfigError(
            f"the verifier {settings.verifier!r} (setting 'verifier') is not available; "
            f"shipped verifiers: {', '.join(services.verifiers.local_names())}, or 'off'"
        )
    caches = await services.store.list_caches()
    names = {settings.verifier} | {cache.options.get("verifier", VERIFIER_OFF) for cache in caches}
    for name in sorted(names - {VERIFIER_OFF}):
        try:
            await services.verifiers[name].score([("warm up", "warm up")])
        except KeyError:
            logger.error("verifier %r is not available; caches using it will answer 424", name)


async def _purge_expired(services: Services, settings: Settings) -> None:
    while True:
        await asyncio.sleep(settings.purge_interval_seconds)
        try:
            now = services.cache.clock()
            purged = await services.store.purge_expired(now=now)
            await services.store.prune_stats(before=now - STATS_RETENTION)
        except SemcacheError as exc:
            logger.warning("reclaiming expired entries failed: %s", exc)
        else:
            if purged:
                logger.debug("reclaimed %d expired entries", purged)


async def _health(request: Request) -> Response:
    return json_response({"status": "ok"})
