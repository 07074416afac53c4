"""The OpenAPI document, built from the live route table and the server's own limits.

Every route the application serves appears in it. Request bodies come from the pydantic
models the handlers parse, narrowed by the limits the service enforces; response bodies
and error bodies are described in `semcache.api._openapi_schemas`. A route with no entry in
`OPERATIONS` is still listed, with what can be said of any route (its security and errors),
so a new endpoint is never silently missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from semcache import __version__
from semcache.api import _openapi_schemas as wire
from semcache.api.schemas import (
    CacheCreateBody,
    ConversationalSearchBody,
    DeleteQueryBody,
    ExplainBody,
    KeyCreateBody,
    SearchBody,
    SetBody,
)
from semcache.core.models import Limits
from semcache.embedding.verifier import VERIFIER_OFF

__all__ = ["OPENAPI_PATH", "OPERATIONS", "Operation", "openapi_document", "openapi_route"]

OPENAPI_PATH = "/openapi.json"

_PARAMETER = re.compile(r"{([^}:]+)(?::[^}]+)?}")


@dataclass(frozen=True, slots=True)
class Operation:
    """What the document says about one method of one route.

    ``body`` is the model the handler parses; ``response`` names a schema of
    `semcache.api._openapi_schemas` (None: no body); ``errors`` are the statuses beyond the
    ones every operation may answer. An operation that is not ``described`` is listed with
    a ``default`` response: any status, any body.
    """

    operation_id: str
    summary: str
    tag: str
    status: int
    response: str | None = None
    body: type[BaseModel] | None = None
    body_required: bool = True
    errors: tuple[int, ...] = ()
    public: bool = False
    described: bool = True


_DATA = "LangCache"
_ADMIN = "admin"
_SERVER = "server"
_CACHE = "/v1/caches/{cache_id}"

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("POST", f"{_CACHE}/entries/search"): Operation(
        "search", "Search the cache", _DATA, 200, "SearchResponse", SearchBody, errors=(400, 424)
    ),
    ("POST", f"{_CACHE}/conversations/search"): Operation(
        "ConversationalSearch",
        "Search with the earlier questions of a conversation",
        _DATA,
        200,
        "ConversationalSearchResponse",
        ConversationalSearchBody,
        errors=(400, 424),
    ),
    ("POST", f"{_CACHE}/entries"): Operation(
        "set",
        "Store a prompt and its response",
        _DATA,
        201,
        "SetResponse",
        SetBody,
        errors=(400, 424),
    ),
    ("DELETE", f"{_CACHE}/entries"): Operation(
        "deleteQuery",
        "Delete the entries carrying all the given attributes",
        _DATA,
        200,
        "DeleteQueryResponse",
        DeleteQueryBody,
        errors=(400, 424),
    ),
    ("DELETE", f"{_CACHE}/entries/{{entry_id:entry_id}}"): Operation(
        "deleteById", "Delete one entry", _DATA, 204, errors=(400, 404, 424)
    ),
    ("POST", f"{_CACHE}/flush"): Operation(
        "Flush", "Delete every entry of the cache", _DATA, 204, errors=(424,)
    ),
    ("GET", "/admin/v1/caches"): Operation(
        "listCaches", "List every cache", _ADMIN, 200, "CacheList", errors=(424,)
    ),
    ("POST", "/admin/v1/caches"): Operation(
        "createCache",
        "Create a cache",
        _ADMIN,
        201,
        "Cache",
        CacheCreateBody,
        errors=(400, 409, 424),
    ),
    ("GET", "/admin/v1/caches/{cache_id}"): Operation(
        "showCache",
        "Show a cache and how many entries it holds",
        _ADMIN,
        200,
        "Cache",
        None,
        errors=(404, 424),
    ),
    ("DELETE", "/admin/v1/caches/{cache_id}"): Operation(
        "deleteCache",
        "Delete a cache with its entries and keys",
        _ADMIN,
        204,
        errors=(404, 424),
    ),
    ("GET", "/admin/v1/caches/{cache_id}/keys"): Operation(
        "listKeys",
        "List the keys of a cache (never their secrets)",
        _ADMIN,
        200,
        "KeyList",
        errors=(404, 424),
    ),
    ("POST", "/admin/v1/caches/{cache_id}/keys"): Operation(
        "createKey",
        "Make an API key for a cache; the key is shown this once",
        _ADMIN,
        201,
        "NewKey",
        KeyCreateBody,
        body_required=False,
        errors=(400, 404, 424),
    ),
    ("DELETE", "/admin/v1/keys/{key_id}"): Operation(
        "revokeKey", "Revoke a key", _ADMIN, 204, errors=(404, 424)
    ),
    ("GET", "/admin/v1/stats"): Operation(
        "listStats",
        "Statistics of every cache over a window",
        _ADMIN,
        200,
        "StatsList",
        errors=(400,),
    ),
    ("GET", "/admin/v1/caches/{cache_id}/stats"): Operation(
        "cacheStats",
        "Statistics of a cache, with series for charts",
        _ADMIN,
        200,
        "CacheStats",
        errors=(400, 404),
    ),
    ("GET", "/admin/v1/caches/{cache_id}/entries"): Operation(
        "listEntries",
        "A page of a cache's entries, newest first",
        _ADMIN,
        200,
        "EntryPage",
        errors=(400, 404),
    ),
    ("DELETE", "/admin/v1/caches/{cache_id}/entries/{entry_id}"): Operation(
        "deleteEntry", "Delete one entry of a cache", _ADMIN, 204, errors=(400, 404, 424)
    ),
    ("POST", "/admin/v1/caches/{cache_id}/explain"): Operation(
        "explainSearch",
        "Run a search and show the candidates it weighed and what it decided",
        _ADMIN,
        200,
        "Explanation",
        ExplainBody,
        errors=(400, 404, 424),
    ),
    ("GET", "/metrics"): Operation(
        "metrics",
        "Prometheus metrics in the text format, for an admin key (anyone: metrics_public)",
        _ADMIN,
        200,
    ),
    ("GET", "/healthz"): Operation(
        "health", "Whether the server is up", _SERVER, 200, "Health", public=True
    ),
    ("GET", OPENAPI_PATH): Operation(
        "openapi", "This document", _SERVER, 200, "OpenAPIDocument", public=True
    ),
}
"""The described operations, by method and route path (as in the route table)."""

# Any request may be too large, and any request may be shed or time out; an authenticated
# one may also be refused its key or rate-limited.
_ALWAYS = (413, 500, 503)
_AUTHENTICATED = (401, 403, 429)


def openapi_document(
    routes: Iterable[BaseRoute],
    *,
    limits: Limits,
    max_body_bytes: int,
    embedders: Sequence[str] = (),
    verifiers: Sequence[str] = (),
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of an application serving ``routes``.

    Args:
        routes: the application's route table; every `Route` in it is described.
        limits: the request limits the service enforces, which bound the body schemas.
        max_body_bytes: the largest body accepted (413 beyond).
        embedders: names of the local models a new cache may use.
        verifiers: names of the verifiers a new cache may use.
    """
    components = wire.components(limits, embedders=embedders, verifiers=verifiers)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route):
            continue
        for method in sorted(route.methods or ()):
            if method == "HEAD":
                continue
            operation = OPERATIONS.get((method, route.path)) or _undescribed(method, route)
            path, parameters = _path_and_parameters(route.path)
            described = _operation(operation, parameters, components["schemas"])
            paths.setdefault(path, {})[method.lower()] = described
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "semcache",
            "version": __version__,
            "description": (
                "A self-hosted semantic cache speaking the Redis LangCache REST API. "
                f"Request bodies may be at most {max_body_bytes} bytes (413 beyond)."
            ),
        },
        "paths": paths,
        "components": components,
        "security": [{"bearerAuth": []}],
        "tags": [
            {"name": _DATA, "description": "The LangCache data API; a cache's own key"},
            {"name": _ADMIN, "description": "Caches and keys; an admin key"},
            {"name": _SERVER, "description": "No key needed"},
        ],
    }


def openapi_route(*, limits: Limits, max_body_bytes: int) -> Route:
    """``GET /openapi.json``: the document of the application serving it, made once."""
    made: list[bytes] = []

    async def openapi_json(request: Request) -> Response:
        if not made:
            services = request.state.services
            embedders = {*services.embedders.local_names(), *services.embedders}
            verifiers = {*services.verifiers.local_names(), *services.verifiers, VERIFIER_OFF}
            document = openapi_document(
                request.app.routes,
                limits=limits,
                max_body_bytes=max_body_bytes,
                embedders=sorted(name for name in embedders if not name.startswith("openai:")),
                verifiers=sorted(verifiers),
            )
            made.append(orjson.dumps(document))
        return Response(made[0], media_type="application/json")

    return Route(OPENAPI_PATH, openapi_json, methods=["GET"])


def _undescribed(method: str, route: Route) -> Operation:
    """What can be said of a route missing from `OPERATIONS`: the key it needs, from where
    it lives, and that it may answer anything."""
    doc = (route.endpoint.__doc__ or "").strip().splitlines()
    summary = doc[0] if doc else route.name.replace("_", " ")
    secured = route.path.startswith(("/admin/", "/v1/"))
    tag = _ADMIN if route.path.startswith("/admin/") else _DATA if secured else _SERVER
    operation_id = f"{method.lower()}_{route.name}"
    return Operation(operation_id, summary, tag, 200, public=not secured, described=False)


def _path_and_parameters(path: str) -> tuple[str, list[str]]:
    names = [match[1] for match in _PARAMETER.finditer(path)]
    return _PARAMETER.sub(lambda m: "{" + _camel(m[1]) + "}", path), names


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def _operation(
    operation: Operation, parameters: list[str], registry: dict[str, Any]
) -> dict[str, Any]:
    described: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "tags": [operation.tag],
        "responses": _responses(operation),
    }
    if parameters:
        described["parameters"] = [wire.path_parameter(_camel(n), n) for n in parameters]
    if operation.body is not None:
        body_schema = wire.request_body(operation.body, registry)
        described["requestBody"] = {
            "required": operation.body_required,
            "content": {"application/json": {"schema": body_schema}},
        }
    if operation.public:
        described["security"] = []
    return described


def _responses(operation: Operation) -> dict[str, Any]:
    success: dict[str, Any] = {"description": operation.summary}
    if operation.response is not None:
        success["content"] = {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{operation.response}"}}
        }
    statuses = set(operation.errors) | set(_ALWAYS)
    if not operation.public:
        statuses |= set(_AUTHENTICATED)
    responses = {str(operation.status): success}
    for status in sorted(statuses):
        responses[str(status)] = {"$ref": f"#/components/responses/Error{status}"}
    if not operation.described:
        responses["default"] = {"description": "Not described in detail"}
    return responses
