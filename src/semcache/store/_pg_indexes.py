"""One HNSW index per cache, built and dropped in the background.

A cache's vectors get a partial index over ``embedding::vector(<dim>)`` for ``cache_no =
<number>``: a cache has one dimension, and a search in one cache never wades through the
others' vectors. The index is made with ``CREATE INDEX CONCURRENTLY``, which blocks no
writer, once a cache's first put fixes its dimension; until it is valid, searches of that
cache are exact. Every process reconciles the indexes with the caches on open and after
each purge, under an advisory lock, so a crash between a put and its index is repaired.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, LiteralString

import psycopg
from psycopg import AsyncConnection, sql

__all__ = ["HNSW_MAX_DIMENSIONS", "HNSWIndexes", "index_name"]

logger = logging.getLogger(__name__)

HNSW_MAX_DIMENSIONS = 2000
"""The most dimensions pgvector indexes with HNSW; larger caches are searched exactly."""

_PREFIX = "semcache_entries_hnsw_"
_NAME = re.compile(_PREFIX + r"(\d+)")
_LOCK: LiteralString = "hashtext('semcache indexes ' || current_schema())"

_EXISTING: LiteralString = (
    "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
    " WHERE i.indrelid = 'semcache_entries'::regclass AND c.relname LIKE %s"
)
_WANTED: LiteralString = (
    "SELECT no, dimension FROM semcache_caches WHERE dimension BETWEEN 1 AND %s"
)
_CREATE: LiteralString = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON semcache_entries"
    " USING hnsw ((embedding::vector({dimension})) vector_cosine_ops)"
    " WITH (m = {m}, ef_construction = {ef_construction}) WHERE cache_no = {number}"
)


def index_name(number: int) -> str:
    return f"{_PREFIX}{number}"


class HNSWIndexes:
    """Keeps the HNSW indexes in step with the caches, off the request path."""

    def __init__(self, conninfo: str, *, m: int, ef_construction: int) -> None:
        self._conninfo = conninfo
        self._m = m
        self._ef_construction = ef_construction
        self._pending = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def reconcile(self) -> None:
        """Ask for a pass that creates missing indexes and drops unneeded ones."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="semcache-hnsw-indexes")
        self._idle.clear()
        self._pending.set()

    async def settle(self) -> None:
        """Wait until every asked-for pass has run."""
        while not self._idle.is_set() or self._pending.is_set():
            await self._idle.wait()
            await asyncio.sleep(0)

    async def close(self, timeout: float) -> None:
        """Let a running pass finish for up to ``timeout`` seconds, then stop."""
        if self._task is None:
            return
        task, self._task = self._task, None
        try:
            await asyncio.wait_for(self.settle(), timeout)
        except TimeoutError:
            logger.warning("an HNSW index build was interrupted; the next start resumes it")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await self._pending.wait()
            self._pending.clear()
            try:
                await self._pass()
            except (psycopg.Error, OSError) as exc:
                logger.warning("maintaining HNSW indexes failed: %s", exc)
            finally:
                if not self._pending.is_set():
                    self._idle.set()

    async def _pass(self) -> None:
        connection = await AsyncConnection.connect(self._conninfo, autocommit=True)
        try:
            await connection.execute(f"SELECT pg_advisory_lock({_LOCK})")
            try:
                await self._reconcile(connection)
            finally:
                await connection.execute(f"SELECT pg_advisory_unlock({_LOCK})")
        finally:
            await connection.close()

    async def _reconcile(self, connection: AsyncConnection[Any]) -> None:
        cursor = await connection.execute(_WANTED, (HNSW_MAX_DIMENSIONS,))
        wanted = {index_name(no): (no, dimension) for no, dimension in await cursor.fetchall()}
        cursor = await connection.execute(_EXISTING, (_PREFIX + "%",))
        valid = set()
        for name, is_valid in await cursor.fetchall():
            if _NAME.fullmatch(name) is None:
                continue
            if is_valid and name in wanted:
                valid.add(name)
            else:
                # A failed concurrent build leaves an invalid index behind; a deleted
                # cache leaves its index.
                await connection.execute(
                    sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(name))
                )
        for name, (number, dimension) in sorted(wanted.items()):
            if name not in valid:
                await self._create(connection, name, number, dimension)

    async def _create(
        self, connection: AsyncConnection[Any], name: str, number: int, dimension: int
    ) -> None:
        logger.info("building HNSW index %s (%d dimensions)", name, dimension)
        await connection.execute(
            sql.SQL(_CREATE).format(
                name=sql.Identifier(name),
                dimension=sql.Literal(dimension),
                m=sql.Literal(self._m),
                ef_construction=sql.Literal(self._ef_construction),
                number=sql.Literal(number),
            )
        )
