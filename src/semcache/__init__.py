"""semcache: a self-hosted semantic cache that speaks the Redis LangCache REST API."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
