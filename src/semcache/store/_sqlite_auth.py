from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from semcache.store._sqlite_inline import InlineReader

__all__ = ["AUTH_VERSION_SQL", "AuthCache", "read_versioned"]

T = TypeVar("T")

AUTH_VERSION_SQL = "SELECT value FROM meta WHERE name = 'auth_version'"
"""Triggers add one to this counter in every transaction that changes a key or a cache."""

_CAPACITY = 10_000


@dataclass(frozen=True, slots=True)
class _Held(Generic[T]):
    value: T
    version: int


def read_versioned(
    connection: sqlite3.Connection, read: Callable[[sqlite3.Connection], T]
) -> tuple[T, int]:
    """``read`` and the auth version, both from one read transaction."""
    connection.execute("BEGIN")
    try:
        (version,) = connection.execute(AUTH_VERSION_SQL).fetchone()
        return read(connection), int(version)
    finally:
        if connection.in_transaction:
            connection.execute("COMMIT")


class AuthCache:
    """Key records and cache settings, kept in memory while the auth version stands still.

    Every request looks up its key and its cache. Instead of two trips to a reader thread,
    a held answer is checked against the auth version, read on the caller's own thread
    with one indexed query: any change to keys or caches, by any process, bumps the
    version in the same transaction, so a revoked key or a deleted cache is never served
    from memory. Only answers that exist are held, at most ``capacity`` of them.
    """

    def __init__(self, reader: InlineReader, *, capacity: int = _CAPACITY) -> None:
        self._reader = reader
        self._capacity = capacity
        self._held: dict[tuple[str, str], _Held[object]] = {}
        self._version = -1
        self.hits = 0
        self.misses = 0

    def get(self, kind: str, name: str) -> object | None:
        """The held answer, if the database has not changed keys or caches since."""
        held = self._held.get((kind, name))
        if held is None or self._current_version() != held.version:
            self.misses += 1
            return None
        self.hits += 1
        return held.value

    def put(self, kind: str, name: str, value: object, version: int) -> None:
        if version < self._version:
            return
        if len(self._held) >= self._capacity:
            self._held.clear()
        self._held[kind, name] = _Held(value, version)

    def _current_version(self) -> int | None:
        row = self._reader.try_read(lambda c: c.execute(AUTH_VERSION_SQL).fetchone())
        if row is None:
            return None
        version = int(row[0])
        if version != self._version:
            self._version = version
            stale = [key for key, held in self._held.items() if held.version != version]
            for key in stale:
                del self._held[key]
        return version
