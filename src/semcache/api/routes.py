"""The LangCache data API: search, conversational search, set, delete, flush."""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from semcache.api.schemas import (
    ConversationalSearchBody,
    DeleteQueryBody,
    SearchBody,
    SetBody,
    hit_json,
    json_response,
    parse_body,
)
from semcache.core.services import Services
from semcache.store.base import CacheConfig

__all__ = ["data_routes"]


class _EntryIdConvertor(Convertor[str]):
    # Any segment but "search": a DELETE of .../entries/search addresses the search route
    # (405, as OpenAPI gives a literal path precedence), not an entry with a malformed ID.
    regex = "(?!search$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("entry_id", _EntryIdConvertor())


async def _authorized(request: Request) -> tuple[Services, CacheConfig]:
    services: Services = request.state.services
    cache = await services.keys.authorize_cache(
        request.headers.get("authorization"), request.path_params["cache_id"]
    )
    return services, cache


async def search(request: Request) -> Response:
    services, cache = await _authorized(request)
    body = parse_body(SearchBody, await request.body())
    result = await services.cache.search(cache, body.to_query())
    return json_response({"data": [hit_json(hit) for hit in result.hits]})


async def conversational_search(request: Request) -> Response:
    services, cache = await _authorized(request)
    body = parse_body(ConversationalSearchBody, await request.body())
    result = await services.cache.search(cache, body.to_query())
    return json_response(
        {"actualPrompt": result.searched_prompt, "data": [hit_json(h) for h in result.hits]}
    )


async def set_entry(request: Request) -> Response:
    services, cache = await _authorized(request)
    body = parse_body(SetBody, await request.body())
    entry_id = await services.cache.put(cache, body.to_new_entry())
    return json_response({"entryId": entry_id}, status_code=201)


async def delete_entry(request: Request) -> Response:
    services, cache = await _authorized(request)
    await services.cache.delete(cache, request.path_params["entry_id"])
    return Response(status_code=204)


async def delete_query(request: Request) -> Response:
    services, cache = await _authorized(request)
    body = parse_body(DeleteQueryBody, await request.body())
    deleted = await services.cache.delete_matching(cache, body.attributes)
    return json_response({"deletedEntriesCount": deleted})


async def flush(request: Request) -> Response:
    services, cache = await _authorized(request)
    await services.cache.flush(cache)
    return Response(status_code=204)


def data_routes() -> list[Route]:
    prefix = "/v1/caches/{cache_id}"
    return [
        Route(f"{prefix}/entries/search", search, methods=["POST"]),
        Route(f"{prefix}/conversations/search", conversational_search, methods=["POST"]),
        Route(f"{prefix}/entries", set_entry, methods=["POST"]),
        Route(f"{prefix}/entries", delete_query, methods=["DELETE"]),
        Route(f"{prefix}/entries/{{entry_id:entry_id}}", delete_entry, methods=["DELETE"]),
        Route(f"{prefix}/flush", flush, methods=["POST"]),
    ]
