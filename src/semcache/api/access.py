from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable
from time import perf_counter

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from semcache.api.logs import request_id_var

__all__ = ["REQUEST_ID_HEADER", "AccessMiddleware", "RequestObserver"]

logger = logging.getLogger("semcache.access")

REQUEST_ID_HEADER = "x-request-id"
_WELL_FORMED = re.compile(rb"[A-Za-z0-9._:-]{1,128}")

RequestObserver = Callable[[str, str, int, float], None]
"""Told of each answered request: route template, method, status code, seconds."""


class AccessMiddleware:
    """Gives each request an ID, logs one line when it is answered, and tells the
    ``observe`` callback (the metrics) about it.

    The ID is the request's ``X-Request-ID`` when that is 1 to 128 letters, digits or
    ``._:-``, otherwise a new random one; it is sent back in ``X-Request-ID`` and carried by
    every log line written while the request is served. Nothing from the headers but the
    ID is logged: no API key ever reaches the log.
    """

    def __init__(self, app: ASGIApp, *, observe: RequestObserver | None = None) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        request_id = _request_id(scope)
        token = request_id_var.set(request_id)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._done(scope, status, perf_counter() - started)
            request_id_var.reset(token)

    def _done(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        endpoint = getattr(route, "path", None) or "unmatched"
        if self.observe is not None:
            self.observe(endpoint, scope["method"], status, seconds)
        if logger.isEnabledFor(logging.INFO):
            client = scope.get("client")
            logger.info(
                '%s "%s %s" %d %.1f ms',
                client[0] if client else "-",
                scope["method"],
                scope["path"],
                status,
                seconds * 1000,
                extra={
                    "client": client[0] if client else None,
                    "method": scope["method"],
                    "path": scope["path"],
                    "endpoint": endpoint,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                },
            )


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            if _WELL_FORMED.fullmatch(value):
                return bytes(value).decode()
            break
    return f"{random.getrandbits(64):016x}"
