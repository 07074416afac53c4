from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg import errors as pg_errors

from semcache.errors import SemcacheError, StoreError, StoreUnavailable

__all__ = ["translate", "translated"]

# SQLSTATE classes that say the database cannot serve us now, rather than that a statement
# is wrong: connection exceptions, insufficient resources (disk full, too many connections),
# operator intervention (shutdown, cancelled or timed-out statements), system errors.
_UNAVAILABLE_CLASSES = frozenset({"08", "53", "57", "58"})


def translate(exc: psycopg.Error) -> StoreError:
    """The semcache error for a driver error (the caller chains it with ``from exc``)."""
    sqlstate = exc.sqlstate or ""
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) and not sqlstate:
        return StoreUnavailable(f"PostgreSQL store unavailable: {exc}")
    if sqlstate[:2] in _UNAVAILABLE_CLASSES or isinstance(exc, pg_errors.LockNotAvailable):
        return StoreUnavailable(f"PostgreSQL store unavailable: {exc}")
    return StoreError(f"PostgreSQL store failed: {exc}")


@asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """Turn driver errors raised in the block into `StoreError` subclasses."""
    try:
        yield
    except SemcacheError:
        raise
    except psycopg.Error as exc:
        raise translate(exc) from exc
