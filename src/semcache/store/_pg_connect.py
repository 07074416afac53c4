from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
from psycopg import AsyncConnection, sql
from psycopg.abc import Buffer
from psycopg.adapt import Dumper
from psycopg.pq import Format
from psycopg.types import TypeInfo
from psycopg_pool import AsyncConnectionPool

from semcache.errors import ConfigError, StoreUnavailable

__all__ = [
    "DEFAULT_FILTER_EXACT_LIMIT",
    "DEFAULT_HNSW_EF_CONSTRUCTION",
    "DEFAULT_HNSW_EF_SEARCH",
    "DEFAULT_HNSW_M",
    "DEFAULT_POOL_MAX_SIZE",
    "DEFAULT_POOL_MIN_SIZE",
    "DEFAULT_POOL_TIMEOUT",
    "PostgresOptions",
    "Server",
    "inspect_server",
    "open_pool",
    "split_url",
]

_VECTOR_HEADER = struct.Struct(">HH")

DEFAULT_POOL_MIN_SIZE = 1
DEFAULT_POOL_MAX_SIZE = 10
DEFAULT_POOL_TIMEOUT = 5.0
DEFAULT_HNSW_EF_SEARCH = 100
DEFAULT_FILTER_EXACT_LIMIT = 20_000
DEFAULT_HNSW_M = 16
DEFAULT_HNSW_EF_CONSTRUCTION = 64


@dataclass(frozen=True, slots=True)
class PostgresOptions:
    """Tuning of `PostgresStore`; each may also be given as a query parameter of its URL."""

    pool_min_size: int = DEFAULT_POOL_MIN_SIZE
    pool_max_size: int = DEFAULT_POOL_MAX_SIZE
    pool_timeout: float = DEFAULT_POOL_TIMEOUT
    hnsw_ef_search: int = DEFAULT_HNSW_EF_SEARCH
    filter_exact_limit: int = DEFAULT_FILTER_EXACT_LIMIT
    hnsw_m: int = DEFAULT_HNSW_M
    hnsw_ef_construction: int = DEFAULT_HNSW_EF_CONSTRUCTION

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            minimum = 0 if field.name == "filter_exact_limit" else 1
            if field.name == "pool_timeout" and value <= 0:
                raise ConfigError(f"pool_timeout must be more than 0, got {value}")
            if value < minimum:
                raise ConfigError(f"{field.name} must be at least {minimum}, got {value}")
        if self.pool_min_size > self.pool_max_size:
            raise ConfigError(
                f"pool_min_size ({self.pool_min_size}) is more than "
                f"pool_max_size ({self.pool_max_size})"
            )
        if self.hnsw_ef_search > 1000:
            raise ConfigError(f"hnsw_ef_search must be at most 1000, got {self.hnsw_ef_search}")


def split_url(url: str) -> tuple[str, dict[str, Any]]:
    """The connection URL without semcache's own query parameters, and those parameters
    converted to the types `PostgresOptions` expects."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("postgresql", "postgres"):
        raise ConfigError(f"store URL {url!r} is not a postgresql:// URL")
    types = {field.name: field.type for field in dataclasses.fields(PostgresOptions)}
    ours: dict[str, Any] = {}
    theirs: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name not in types:
            theirs.append((name, value))
            continue
        try:
            ours[name] = float(value) if types[name] in (float, "float") else int(value)
        except ValueError:
            raise ConfigError(
                f"store URL parameter {name} must be a number, got {value!r}"
            ) from None
    return urlunsplit(parts._replace(query=urlencode(theirs))), ours


@dataclass(frozen=True, slots=True)
class Server:
    """What the store needs to know of the database it talks to."""

    vector_oid: int
    vector_version: tuple[int, ...]

    @property
    def has_iterative_scan(self) -> bool:
        """pgvector 0.8 can keep scanning an HNSW index until a filter lets enough rows by."""
        return self.vector_version >= (0, 8)


async def inspect_server(connection: AsyncConnection[Any]) -> Server:
    info = await TypeInfo.fetch(connection, "vector")
    cursor = await connection.execute(
        "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
    )
    row = await cursor.fetchone()
    if info is None or row is None:
        raise StoreUnavailable(
            "the pgvector extension ('vector') is not installed in this database"
        )
    version = tuple(int(part) for part in str(row[0]).split(".") if part.isdigit())
    return Server(vector_oid=info.oid, vector_version=version)


def _vector_dumper(oid: int) -> type[Dumper]:
    class VectorDumper(Dumper):
        """numpy float32 vectors in pgvector's binary form: dimension, a zero, the floats."""

        format = Format.BINARY

        def dump(self, obj: Any) -> Buffer:
            array = np.asarray(obj, dtype=">f4")
            return _VECTOR_HEADER.pack(len(array), 0) + array.tobytes()

    VectorDumper.oid = oid
    return VectorDumper


async def open_pool(
    conninfo: str, server: Server, options: PostgresOptions
) -> AsyncConnectionPool[AsyncConnection[Any]]:
    """An open pool of autocommit connections that send numpy vectors as pgvector's."""
    dumper = _vector_dumper(server.vector_oid)
    setup = sql.SQL("SET hnsw.ef_search = {}; SET jit = off").format(
        sql.Literal(options.hnsw_ef_search)
    )

    async def configure(connection: AsyncConnection[Any]) -> None:
        connection.adapters.register_dumper(np.ndarray, dumper)
        await connection.execute(setup)

    pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
        conninfo,
        min_size=options.pool_min_size,
        max_size=options.pool_max_size,
        kwargs={"autocommit": True},
        configure=configure,
        timeout=options.pool_timeout,
        name="semcache",
        open=False,
    )
    try:
        await pool.open(wait=True, timeout=max(options.pool_timeout, 10.0))
    except BaseException:
        await pool.close()
        raise
    return pool
