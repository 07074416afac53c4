from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from semcache.api.errors import error_response
from semcache.errors import RequestTimedOut

__all__ = ["TimeoutMiddleware"]


class TimeoutMiddleware:
    """Answers a 503 (`RequestTimedOut`, with ``Retry-After``) to a request that has not
    begun its response within ``seconds``, and abandons it.

    The clock covers the whole request, reading its body included, so no request waits
    longer than this on the model, the store, an outside service or a slow client. Once a
    response has begun, it is allowed to finish. ``seconds`` of 0 turns the limit off.
    """

    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.seconds <= 0:
            await self.app(scope, receive, send)
            return
        deadline = asyncio.timeout(self.seconds)

        async def watching_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                deadline.reschedule(None)
            await send(message)

        try:
            async with deadline:
                await self.app(scope, receive, watching_send)
        except TimeoutError:
            if not deadline.expired():
                raise  # the application's own, not ours
            response = error_response(Request(scope), self._error())
            await response(scope, receive, send)

    def _error(self) -> RequestTimedOut:
        return RequestTimedOut(
            f"the request took longer than {self.seconds:g} s and was abandoned; "
            "the server is busy, try again shortly"
        )
