"""The web console's files, served at ``/console``.

They are static: the console signs in with an admin key and then talks to the admin API
like any other client, so the files hold nothing secret. A strict Content-Security-Policy
keeps any text from the store (prompts, responses) from ever running as code.
"""

from __future__ import annotations

import hashlib
from importlib import resources

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

__all__ = ["console_routes"]

_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _load() -> dict[str, tuple[bytes, str]]:
    folder = resources.files("semcache.api") / "console"
    files = {}
    for name in _TYPES:
        content = (folder / name).read_bytes()
        files[name] = (content, '"' + hashlib.sha256(content).hexdigest()[:16] + '"')
    return files


def console_routes() -> list[Route]:
    """``/console`` and its files, read once from the package."""
    files = _load()

    async def asset(request: Request) -> Response:
        """The web console (a page and its files); it signs in with an admin key."""
        name = request.path_params.get("name", "index.html")
        if name not in files:
            return Response("not found", status_code=404, media_type="text/plain")
        content, etag = files[name]
        headers = {**_HEADERS, "ETag": etag}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(content, media_type=_TYPES[name], headers=headers)

    async def slash(request: Request) -> Response:
        return RedirectResponse("/console", status_code=308)

    return [
        Route("/console", asset, methods=["GET", "HEAD"], name="console"),
        Route("/console/", slash, methods=["GET", "HEAD"], name="console_slash"),
        Route("/console/{name}", asset, methods=["GET", "HEAD"], name="console_file"),
    ]
