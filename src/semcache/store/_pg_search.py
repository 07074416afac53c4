"""Vector search over PostgreSQL with pgvector.

Each cache with vectors has its own partial HNSW index over ``embedding::vector(<dim>)``,
for ``cache_no = <its number>`` (see `_pg_indexes`). A query ordered by that same
expression, with the number written into the SQL, may use the index; one ordered by
``embedding <=> q`` cannot, and is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, LiteralString

import numpy as np
from psycopg import AsyncConnection, sql
from psycopg.types.json import Jsonb

from semcache.errors import StoreError
from semcache.store._pg_rows import ENTRY_COLUMNS, LIVE, entry_from_row
from semcache.store.base import Match
from semcache.types import Attributes, CacheId, Millis, Vector

__all__ = [
    "EXACT_IF_FEW",
    "SearchRequest",
    "SearchTuning",
    "exact_sql",
    "hnsw_sql",
    "search",
    "unit_vector",
]

Connection = AsyncConnection[Any]

HNSW_MAX_EF_SEARCH = 1000
"""The largest ``hnsw.ef_search`` pgvector accepts."""

_FILTER: LiteralString = " AND e.attributes @> %(attributes)s"

_HNSW: LiteralString = (
    f"SELECT {ENTRY_COLUMNS}, e.embedding::vector({{dimension}}) <=> %(q)b"
    " FROM semcache_entries e WHERE e.cache_no = {number} AND " + LIVE + "{filter}"
    " ORDER BY e.embedding::vector({dimension}) <=> %(q)b LIMIT %(limit)s"
)

_EXACT: LiteralString = (
    f"SELECT {ENTRY_COLUMNS}, e.embedding <=> %(q)b AS distance"
    f" FROM semcache_entries e WHERE e.cache_no = %(number)s AND {LIVE}"
    "{filter} ORDER BY distance LIMIT %(limit)s"
)

# The candidates of a filter, counted up to one more than the limit, and when there are
# no more than the limit, the nearest of them: one round trip for a selective filter.
EXACT_IF_FEW: LiteralString = (
    "WITH candidates AS MATERIALIZED (SELECT e.id, e.embedding FROM semcache_entries e"
    f" WHERE e.cache_no = %(number)s AND {LIVE}{_FILTER} LIMIT %(cap)s::bigint + 1),"
    " total AS (SELECT count(*) AS n FROM candidates),"
    " best AS (SELECT c.id, c.embedding <=> %(q)b AS distance FROM candidates c, total"
    " WHERE total.n <= %(cap)s ORDER BY distance LIMIT %(limit)s)"
    f" SELECT {ENTRY_COLUMNS}, best.distance, total.n FROM total"
    " LEFT JOIN best ON true LEFT JOIN semcache_entries e ON e.id = best.id"
    " ORDER BY best.distance"
)


@dataclass(frozen=True, slots=True)
class SearchRequest:
    cache_id: CacheId
    vector: Vector
    attributes: Attributes
    now: Millis
    limit: int


@dataclass(frozen=True, slots=True)
class SearchTuning:
    """``ef_search`` is the connections' default; ``iterative_scan`` is pgvector ≥ 0.8's."""

    ef_search: int
    filter_exact_limit: int
    iterative_scan: bool


def unit_vector(vector: Vector) -> Vector:
    """``vector`` as a float32 unit vector; a StoreError if it is empty, zero or not finite."""
    values = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(values))
    if values.shape[0] == 0 or not math.isfinite(norm) or norm == 0.0:
        raise StoreError("vector must be non-empty, finite and not zero")
    return values / np.float32(norm)


async def search(
    connection: Connection, request: SearchRequest, tuning: SearchTuning
) -> list[Match]:
    """The live entries nearest to the request's vector, best first."""
    cursor = await connection.execute(
        "SELECT no, dimension FROM semcache_caches WHERE id = %s", (request.cache_id,)
    )
    cache = await cursor.fetchone()
    if cache is None or cache[1] is None or request.limit <= 0:
        return []
    number, dimension = int(cache[0]), int(cache[1])
    query = unit_vector(request.vector)
    if len(query) != dimension:
        raise StoreError(
            f"vector has {len(query)} dimensions, cache {request.cache_id!r} has {dimension}"
        )
    parameters = {
        "q": query,
        "number": number,
        "now": request.now,
        "limit": request.limit,
        "attributes": Jsonb(dict(request.attributes)),
        "cap": tuning.filter_exact_limit,
    }
    if request.attributes:
        candidates, matches = await _exact_if_few(connection, request.cache_id, parameters)
        if candidates <= tuning.filter_exact_limit:
            return matches
    matches = await _hnsw(connection, request, number, dimension, parameters, tuning)
    if len(matches) < request.limit:
        # Expired, deleted or filtered-out rows took the index's places: ask exactly.
        matches = await _exact(connection, request, parameters)
    return matches


def _matches(cache_id: CacheId, rows: list[tuple[Any, ...]]) -> list[Match]:
    return [
        Match(entry_from_row(cache_id, row), 1.0 - float(row[6]))
        for row in rows
        if row[0] is not None
    ]


async def _exact_if_few(
    connection: Connection, cache_id: CacheId, parameters: dict[str, Any]
) -> tuple[int, list[Match]]:
    cursor = await connection.execute(EXACT_IF_FEW, parameters)
    rows = await cursor.fetchall()
    return int(rows[0][7]), _matches(cache_id, rows)


def hnsw_sql(number: int, dimension: int, *, filtered: bool) -> sql.Composed:
    """The query that may use the cache's HNSW index; parameters q, now, limit and, if
    ``filtered``, attributes."""
    # The cache's number and dimension are written into the SQL: the planner can only use
    # a partial index whose predicate it can prove from the query's text.
    return sql.SQL(_HNSW).format(
        dimension=sql.Literal(dimension),
        number=sql.Literal(number),
        filter=sql.SQL(_FILTER if filtered else ""),
    )


def exact_sql(*, filtered: bool) -> sql.Composed:
    """The exact query: parameters q, number, now, limit and, if ``filtered``, attributes."""
    return sql.SQL(_EXACT).format(filter=sql.SQL(_FILTER if filtered else ""))


async def _exact(
    connection: Connection, request: SearchRequest, parameters: dict[str, Any]
) -> list[Match]:
    text = exact_sql(filtered=bool(request.attributes))
    cursor = await connection.execute(text, parameters)
    return _matches(request.cache_id, await cursor.fetchall())


async def _hnsw(
    connection: Connection,
    request: SearchRequest,
    number: int,
    dimension: int,
    parameters: dict[str, Any],
    tuning: SearchTuning,
) -> list[Match]:
    text = hnsw_sql(number, dimension, filtered=bool(request.attributes))
    ef_search = tuning.ef_search * 4 if request.attributes else tuning.ef_search
    ef_search = min(HNSW_MAX_EF_SEARCH, max(ef_search, request.limit))
    settings: list[sql.SQL | sql.Composed] = []
    if ef_search != tuning.ef_search:
        settings.append(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(ef_search)))
    if request.attributes and tuning.iterative_scan:
        settings.append(sql.SQL("SET LOCAL hnsw.iterative_scan = strict_order"))
    if not settings:
        cursor = await connection.execute(text, parameters)
        return _matches(request.cache_id, await cursor.fetchall())
    async with connection.transaction():
        for setting in settings:
            await connection.execute(setting)
        cursor = await connection.execute(text, parameters)
        return _matches(request.cache_id, await cursor.fetchall())
