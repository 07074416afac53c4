"""Choosing a store from a URL: the scheme names the backend, imported only when used."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol, cast

from semcache.errors import ConfigError
from semcache.store.base import Store

__all__ = ["Backend", "open_store", "registry", "scheme_of"]


class _Opener(Protocol):
    async def from_url(self, url: str, *, preload: bool = True) -> Store: ...


@dataclass(frozen=True, slots=True)
class Backend:
    """Where a backend lives (``"module:Class"``, the class having an async ``from_url``),
    and what to install when importing it fails."""

    target: str
    install_hint: str | None = None


_POSTGRES = Backend("semcache.store.postgres:PostgresStore", "pip install 'semcache[postgres]'")
_registry: dict[str, Backend] = {
    "sqlite": Backend("semcache.store.sqlite:SQLiteStore"),
    "postgresql": _POSTGRES,
    "postgres": _POSTGRES,
}
registry: Mapping[str, Backend] = MappingProxyType(_registry)
"""Known URL schemes and their backends (read-only)."""


def scheme_of(url: str) -> str:
    """The URL's scheme in lower case; a plain path (no ``://``) means ``sqlite``."""
    scheme, separator, _ = url.partition("://")
    return scheme.lower() if separator else "sqlite"


async def open_store(url: str, *, preload: bool = True) -> Store:
    """Open the store ``url`` names.

    ``sqlite:///absolute/dir``, ``sqlite://relative/dir`` or a plain directory path open the
    embedded SQLite store in that directory; ``postgresql://…`` (or ``postgres://…``) opens
    the PostgreSQL store, which needs ``semcache[postgres]``. ``preload`` lets a store that
    keeps indexes in memory start loading them at once, as a server wants; a command that
    uses the store for a moment passes False.

    Raises:
        ConfigError: the URL is empty, malformed or has an unknown scheme, or its backend
            cannot be imported.
        StoreUnavailable: the store cannot be opened.
    """
    if not url.strip():
        raise ConfigError("the store URL is empty; pass a directory or sqlite:///path")
    scheme = scheme_of(url)
    backend = _registry.get(scheme)
    if backend is None:
        known = ", ".join(f"{name}://" for name in sorted(_registry))
        raise ConfigError(f"store URL {url!r} has an unknown scheme {scheme!r}; known: {known}")
    opener = _import(scheme, backend)
    if "://" not in url:
        url = f"{scheme}://{url}"
    return await opener.from_url(url, preload=preload)


def _import(scheme: str, backend: Backend) -> _Opener:
    module_name, _, attribute = backend.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = backend.install_hint or f"the {scheme} backend could not be imported"
        raise ConfigError(f"{scheme}:// store URLs need more: {hint} ({exc})") from exc
    return cast(_Opener, getattr(module, attribute))
