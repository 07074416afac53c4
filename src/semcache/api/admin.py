"""The admin API: caches and their keys, guarded by an admin key.

It lives under ``/admin/v1``, apart from the LangCache data API under ``/v1/caches``: a
cache key is refused here, and an admin key is refused there.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from semcache.api.schemas import (
    CacheCreateBody,
    KeyCreateBody,
    cache_json,
    json_response,
    key_json,
    parse_body,
)
from semcache.core.services import Services

__all__ = ["admin_routes"]


async def _admin(request: Request) -> Services:
    services: Services = request.state.services
    await services.keys.authorize_admin(request.headers.get("authorization"))
    return services


async def list_caches(request: Request) -> Response:
    services = await _admin(request)
    return json_response({"caches": [cache_json(cache) for cache in await services.admin.list()]})


async def create_cache(request: Request) -> Response:
    services = await _admin(request)
    body = parse_body(CacheCreateBody, await request.body())
    cache = await services.admin.create(body.to_spec())
    return json_response(cache_json(cache), status_code=201)


async def show_cache(request: Request) -> Response:
    services = await _admin(request)
    summary = await services.admin.summary(request.path_params["cache_id"])
    return json_response(cache_json(summary.cache, summary))


async def delete_cache(request: Request) -> Response:
    services = await _admin(request)
    await services.admin.delete(request.path_params["cache_id"])
    return Response(status_code=204)


async def list_keys(request: Request) -> Response:
    services = await _admin(request)
    cache = await services.admin.get(request.path_params["cache_id"])
    keys = await services.store.list_keys(cache.id)
    return json_response({"keys": [key_json(key) for key in keys]})


async def create_key(request: Request) -> Response:
    services = await _admin(request)
    raw = await request.body()
    body = parse_body(KeyCreateBody, raw) if raw.strip() else KeyCreateBody()
    issued = await services.keys.issue(request.path_params["cache_id"], label=body.label)
    return json_response({**key_json(issued.record), "apiKey": issued.secret}, status_code=201)


async def revoke_key(request: Request) -> Response:
    services = await _admin(request)
    await services.keys.revoke(request.path_params["key_id"])
    return Response(status_code=204)


def admin_routes() -> list[Route]:
    prefix = "/admin/v1"
    return [
        Route(f"{prefix}/caches", list_caches, methods=["GET"]),
        Route(f"{prefix}/caches", create_cache, methods=["POST"]),
        Route(f"{prefix}/caches/{{cache_id}}", show_cache, methods=["GET"]),
        Route(f"{prefix}/caches/{{cache_id}}", delete_cache, methods=["DELETE"]),
        Route(f"{prefix}/caches/{{cache_id}}/keys", list_keys, methods=["GET"]),
        Route(f"{prefix}/caches/{{cache_id}}/keys", create_key, methods=["POST"]),
        Route(f"{prefix}/keys/{{key_id}}", revoke_key, methods=["DELETE"]),
    ]
