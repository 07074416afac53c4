"""The one place where exceptions become HTTP error responses.

Every error body has the same shape: ``{"type", "title", "status", "detail", "instance"}``
plus ``fields`` on a 400. ``type`` is chosen per client, because each generation of the
official SDKs only turns the ``type`` values it knows into its typed exceptions: the
client is recognised from its ``User-Agent``.
"""

from __future__ import annotations

import enum
import logging
import re
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from semcache.errors import (
    CacheNotFound,
    EmbeddingError,
    EntryNotFound,
    InvalidRequest,
    KeyNotFound,
    Overloaded,
    RequestError,
    SemcacheError,
    TooManyRequests,
)

__all__ = [
    "Client",
    "client_of",
    "error_response",
    "error_title",
    "error_type",
    "error_types",
    "install_error_handlers",
]

logger = logging.getLogger(__name__)

_PYTHON_AGENT = re.compile(r"speakeasy-sdk/python (\d+)\.(\d+)")


class Client(enum.Enum):
    """The families of official SDKs that agree on error ``type`` values."""

    CURRENT = "python>=0.12"
    """Python SDK 0.12 and later, and any client we do not recognise."""
    V0_10 = "python 0.10-0.11, typescript 0.11"
    V0_9 = "python<=0.9"


def client_of(user_agent: str) -> Client:
    if "speakeasy-sdk/typescript" in user_agent:
        return Client.V0_10
    match = _PYTHON_AGENT.search(user_agent)
    if match is None:
        return Client.CURRENT
    version = (int(match[1]), int(match[2]))
    if version >= (0, 12):
        return Client.CURRENT
    return Client.V0_10 if version >= (0, 10) else Client.V0_9


_TYPES: dict[int, tuple[str, str, str]] = {
    # status: (CURRENT, V0_10, V0_9)
    400: ("/errors/invalid-data", "/errors/invalid-data", "/errors/invalid-request"),
    401: (
        "/errors/authentication-failed",
        "/errors/authentication-failed",
        "/errors/unauthenticated",
    ),
    403: (
        "/errors/insufficient-permissions",
        "/errors/insufficient-permissions",
        "/errors/unauthorized",
    ),
    404: ("/errors/resource-not-found", "/errors/resource/not-found", "/errors/not-found"),
    413: ("/errors/payload-too-large",) * 3,
    424: (
        "/errors/resource-unavailable",
        "/errors/database/resource-database-unavailable",
        "/errors/embeddings/too-many-requests",
    ),
    429: ("/errors/too-many-requests",) * 3,
    500: ("/errors/unexpected-error",) * 3,
    503: ("/errors/unexpected-error", "/errors/unexpected-error", "/errors/cache/unexpected-error"),
}

_V0_10_NOT_FOUND: dict[type[Exception], str] = {
    CacheNotFound: "/errors/cache/not-found",
    EntryNotFound: "/errors/cache/entry/not-found",
    KeyNotFound: "/errors/token/not-found",
}

_TITLES = {
    400: "Invalid Request",
    401: "Authentication Failed",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    424: "Failed Dependency",
    429: "Too Many Requests",
    500: "Unexpected Error",
    503: "Service Unavailable",
}


def error_type(status: int, client: Client, exc: Exception | None = None) -> str:
    """The ``type`` that the given client turns into its typed exception for ``status``."""
    if client is Client.V0_10 and exc is not None and type(exc) in _V0_10_NOT_FOUND:
        return _V0_10_NOT_FOUND[type(exc)]
    if status == 424 and isinstance(exc, EmbeddingError) and client is not Client.CURRENT:
        if exc.reason == "unauthorized":
            return "/errors/embeddings/unauthorized"
        if exc.reason == "rate-limited" or client is Client.V0_9:
            return "/errors/embeddings/too-many-requests"
    types = _TYPES.get(status)
    if types is None:
        return f"/errors/http-{status}"
    return types[list(Client).index(client)]


def error_types(status: int) -> list[str]:
    """Every ``type`` an error of ``status`` may carry, whichever the client."""
    types = dict.fromkeys(_TYPES.get(status, (f"/errors/http-{status}",)))
    if status == 404:
        types.update(dict.fromkeys(_V0_10_NOT_FOUND.values()))
    if status == 424:
        types.update(dict.fromkeys(["/errors/embeddings/unauthorized"]))
    return sorted(types)


def error_title(status: int) -> str:
    """The ``title`` of an error of ``status`` when the exception names none."""
    return _TITLES.get(status, "Error")


def error_response(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    client = client_of(request.headers.get("user-agent", ""))
    body: dict[str, Any] = {
        "type": error_type(status, client, exc),
        "title": getattr(exc, "title", None) or _TITLES.get(status, "Error"),
        "status": status,
        "detail": _detail(exc, status),
        "instance": request.url.path,
    }
    if isinstance(exc, InvalidRequest) and exc.fields:
        body["fields"] = [
            {"field": f.field, "rule": f.rule, "message": f.message} for f in exc.fields
        ]
    headers: dict[str, str] = {}
    if isinstance(exc, HTTPException) and exc.headers:
        headers.update(exc.headers)
    if status == 405:
        headers["Allow"] = _allowed_methods(request) or headers.get("Allow", "")
    if isinstance(exc, TooManyRequests | Overloaded):
        headers["Retry-After"] = str(exc.retry_after_seconds)
    return Response(
        orjson.dumps(body), status_code=status, headers=headers, media_type="application/json"
    )


def _allowed_methods(request: Request) -> str:
    """The methods of every route with the path of the first route that matches: Starlette's
    own ``Allow`` names only that first route's, though another may serve the same path."""
    routes = [r for r in getattr(request.app, "routes", ()) if isinstance(r, Route)]
    scope = {**request.scope, "method": "GET"}
    first = next((r for r in routes if r.matches(scope)[0] is not Match.NONE), None)
    if first is None:
        return ""
    methods = {m for r in routes if r.path == first.path for m in r.methods or ()}
    return ", ".join(sorted(methods))


def _detail(exc: Exception, status: int) -> str:
    if isinstance(exc, RequestError):
        return exc.detail
    if isinstance(exc, HTTPException):
        return str(exc.detail)
    if isinstance(exc, SemcacheError):
        return str(exc)
    return "the server met an unexpected error; it has been logged"


async def _semcache_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RequestError):
        logger.warning("%s %s failed: %s", request.method, request.url.path, exc)
    return error_response(request, exc)


async def _http_exception(request: Request, exc: Exception) -> Response:
    return error_response(request, exc)


async def _unexpected(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after this handler, so the traceback still reaches the log.
    return error_response(request, exc)


def install_error_handlers() -> dict[Any, Any]:
    """The exception handlers for `starlette.applications.Starlette`."""
    return {
        SemcacheError: _semcache_error,
        HTTPException: _http_exception,
        Exception: _unexpected,
    }
