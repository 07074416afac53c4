from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import TypeVar

__all__ = ["InlineReader"]

T = TypeVar("T")


class InlineReader:
    """Short indexed reads on the caller's own thread: the event loop's.

    A trip to a reader thread and back costs about 60 to 80 microseconds here, several
    times the query itself when it is one index lookup. Such reads (the auth version, an
    exact prompt lookup) run here instead, on one read-only connection that never waits
    for a lock (busy timeout 0): if SQLite cannot answer at once, or fails in any way,
    `try_read` gives ``None`` and the caller reads on a reader thread as usual. Once
    closed, it gives ``None`` for good, so that the usual read reports the closed store.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._closed = False

    def try_read(self, job: Callable[[sqlite3.Connection], T]) -> T | None:
        """``job``'s answer, or ``None`` if it could not be read here (``job`` itself must
        never answer ``None``)."""
        with self._lock:
            if self._closed:
                return None
            try:
                if self._connection is None:
                    self._connection = self._connect()
                return job(self._connection)
            except sqlite3.Error:
                return None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._connection is not None:
                self._connection.close()
                self._connection = None
