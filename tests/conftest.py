from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from semcache.testing.postgres import LocalPostgres


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


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    """A real PostgreSQL with pgvector (from the pgserver package) for the whole run."""
    from semcache.testing.postgres import LocalPostgres

    # Not under pytest's base temp: when run as root the server runs as another user, and
    # another pytest run may make that directory private again.
    directory = Path(tempfile.mkdtemp(prefix="semcache-postgres-"))
    server = LocalPostgres.start(directory / "data")
    yield server
    server.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_database(postgres: LocalPostgres) -> str:
    """This pytest-xdist worker's own database, with pgvector installed."""
    name = f"semcache_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    postgres.create_database(name)
    return name


_schemas = itertools.count(1)


@pytest.fixture
def postgres_schema(postgres: LocalPostgres, postgres_database: str) -> Iterator[str]:
    """A new, empty schema in the worker's database; dropped after the test."""
    schema = f"test_{next(_schemas)}"
    postgres.create_schema(postgres_database, schema)
    yield schema
    postgres.drop_schema(postgres_database, schema)


@pytest.fixture
def postgres_url(postgres: LocalPostgres, postgres_database: str, postgres_schema: str) -> str:
    """The URL of the test's own schema."""
    return postgres.url(postgres_database, schema=postgres_schema)
