from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def clean_environ() -> Iterator[None]:
    """Tests never see the caller's SEMCACHE_* or LANGCACHE_* settings."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(("SEMCACHE_", "LANGCACHE_")):
            del os.environ[name]
    yield
    os.environ.clear()
    os.environ.update(saved)
