"""The admin API for looking into caches: statistics, entries, and explained searches.

Like the rest of the admin API it needs an admin key; the web console is its main client.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from semcache.api.schemas import (
    ExplainBody,
    entry_json,
    explanation_json,
    json_response,
    parse_body,
    parse_cursor,
    stats_json,
)
from semcache.core.services import Services
from semcache.core.stats import StatsReader, Window
from semcache.errors import InvalidRequest, SemcacheError
from semcache.store.base import CacheConfig

__all__ = ["MAX_PAGE", "inspection_routes"]

MAX_PAGE = 500
"""Most entries one page of ``GET …/entries`` returns."""


async def _admin(request: Request) -> Services:
    services: Services = request.state.services
    await services.keys.authorize_admin(request.headers.get("authorization"))
    return services


def _window(request: Request) -> Window:
    try:
        return Window.named(request.query_params.get("window", "day"))
    except ValueError as exc:
        raise InvalidRequest.for_field("window", "enum", str(exc)) from None


def _threshold(services: Services, cache: CacheConfig) -> float | None:
    try:
        return services.cache.threshold_for(cache)
    except SemcacheError:
        return None  # the cache's model is not loaded: its threshold is unknown


async def cache_stats(request: Request) -> Response:
    """Statistics of a cache over the last hour, day or week, with a series for charts."""
    services = await _admin(request)
    cache = await services.admin.get(request.path_params["cache_id"])
    stats = await StatsReader(services.store).read(
        cache.id, _window(request), now=services.cache.clock()
    )
    return json_response(stats_json(stats, threshold=_threshold(services, cache)))


async def all_stats(request: Request) -> Response:
    """Statistics of every cache over the last hour, day or week."""
    services = await _admin(request)
    window, reader, now = _window(request), StatsReader(services.store), services.cache.clock()
    caches = [
        stats_json(await reader.read(cache.id, window, now=now), points=False)
        for cache in await services.admin.list()
    ]
    return json_response({"window": window.label, "caches": caches})


async def list_entries(request: Request) -> Response:
    """A page of a cache's entries, newest first."""
    services = await _admin(request)
    cache = await services.admin.get(request.path_params["cache_id"])
    try:
        limit = int(request.query_params.get("limit", "50"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest.for_field("limit", "range", f"must be 1 to {MAX_PAGE}")
    after = parse_cursor(request.query_params.get("cursor"))
    entries = await services.store.list_entries(
        cache.id, now=services.cache.clock(), limit=limit + 1, after=after
    )
    page = entries[:limit]
    more = len(entries) > limit
    cursor = f"{page[-1].created_at}:{page[-1].id}" if more else None
    return json_response({"entries": [entry_json(e) for e in page], "nextCursor": cursor})


async def delete_entry(request: Request) -> Response:
    """Delete one entry of a cache."""
    services = await _admin(request)
    cache = await services.admin.get(request.path_params["cache_id"])
    await services.cache.delete(cache, request.path_params["entry_id"])
    return Response(status_code=204)


async def explain(request: Request) -> Response:
    """Run a search and show the candidates it weighed and what it decided."""
    services = await _admin(request)
    cache = await services.admin.get(request.path_params["cache_id"])
    body = parse_body(ExplainBody, await request.body())
    result, trace = await services.cache.explain(cache, body.to_query(), show=body.shown())
    return json_response(explanation_json(result, trace))


def inspection_routes() -> list[Route]:
    prefix = "/admin/v1"
    cache = f"{prefix}/caches/{{cache_id}}"
    return [
        Route(f"{prefix}/stats", all_stats, methods=["GET"]),
        Route(f"{cache}/stats", cache_stats, methods=["GET"]),
        Route(f"{cache}/entries", list_entries, methods=["GET"]),
        Route(f"{cache}/entries/{{entry_id}}", delete_entry, methods=["DELETE"]),
        Route(f"{cache}/explain", explain, methods=["POST"]),
    ]
