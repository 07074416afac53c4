from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from semcache.errors import StoreError, StoreUnavailable

__all__ = ["SQLiteExecutor", "WriteStats", "translate"]

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], T]

MAX_GROUP = 512
"""Most writes committed in one transaction: bounds how long the write lock is held."""

_UNAVAILABLE_CODES = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_NOTADB,
        sqlite3.SQLITE_CORRUPT,
    }
)


def translate(exc: sqlite3.Error) -> StoreError:
    """The semcache error for a driver error (the caller chains it with ``from exc``)."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary in _UNAVAILABLE_CODES:
        return StoreUnavailable(f"SQLite store unavailable: {exc}")
    return StoreError(f"SQLite store failed: {exc}")


def _run(job: Job[T], connection: sqlite3.Connection) -> T:
    try:
        return job(connection)
    except sqlite3.Error as exc:
        raise translate(exc) from exc


@dataclass
class WriteStats:
    """Counters of the writer thread: ``commits`` < ``writes`` shows group commit at work."""

    writes: int = 0
    commits: int = 0
    failed: int = 0


@dataclass
class _WriteJob(Generic[T]):
    job: Job[T]
    future: Future[T] = field(default_factory=Future)


class SQLiteExecutor:
    """One writer thread fed by a queue and a pool of reader threads, each with its own
    connection. Writes queued together commit in one transaction (one fsync)."""

    def __init__(self, connect: Callable[[bool], sqlite3.Connection], *, readers: int) -> None:
        self._connect = connect
        self._queue: queue.SimpleQueue[_WriteJob[Any] | None] = queue.SimpleQueue()
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="semcache-sqlite-read")
        self._writer = threading.Thread(target=self._write_loop, name="semcache-sqlite-write")
        self._writer.daemon = True
        self.stats = WriteStats()
        self._writer_connection = connect(False)
        self._writer.start()

    async def read(self, job: Job[T]) -> T:
        """Run ``job`` with this thread's read connection, off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._read_here, job)

    def read_sync(self, job: Job[T]) -> T:
        """Run ``job`` on a reader thread and wait (for use from other worker threads)."""
        return self._readers.submit(self._read_here, job).result()

    async def write(self, job: Job[T]) -> T:
        """Run ``job`` in the writer's next transaction; returns once it is committed."""
        return await asyncio.wrap_future(self.submit_write(job))

    def submit_write(self, job: Job[T]) -> Future[T]:
        item: _WriteJob[T] = _WriteJob(job)
        self._queue.put(item)
        return item.future

    def close(self) -> None:
        """Finish queued writes, stop the threads and close every connection (blocking)."""
        self._queue.put(None)
        self._writer.join()
        self._readers.shutdown(wait=True)
        with self._connections_lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()

    def _read_here(self, job: Job[T]) -> T:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            try:
                connection = self._connect(True)
            except sqlite3.Error as exc:
                raise translate(exc) from exc
            self._local.connection = connection
            with self._connections_lock:
                self._connections.append(connection)
        return _run(job, connection)

    def _write_loop(self) -> None:
        connection = self._writer_connection
        try:
            while True:
                batch, stop = self._next_batch()
                if batch:
                    self._commit(connection, batch)
                if stop:
                    return
        finally:
            connection.close()

    def _next_batch(self) -> tuple[list[_WriteJob[Any]], bool]:
        first = self._queue.get()
        if first is None:
            return [], True
        batch = [first]
        while len(batch) < MAX_GROUP:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _commit(self, connection: sqlite3.Connection, batch: list[_WriteJob[Any]]) -> None:
        try:
            connection.execute("BEGIN IMMEDIATE")
            outcomes = [self._run_in_savepoint(connection, item) for item in batch]
            connection.execute("COMMIT")
            self.stats.commits += 1
        except Exception as exc:
            self._roll_back(connection)
            failure = translate(exc) if isinstance(exc, sqlite3.Error) else exc
            if failure is not exc:
                failure.__cause__ = exc
            outcomes = [(item, None, failure) for item in batch]
        for item, result, error in outcomes:
            self.stats.writes += 1
            if item.future.cancelled():
                continue
            if error is None:
                item.future.set_result(result)
            else:
                self.stats.failed += 1
                item.future.set_exception(error)

    @staticmethod
    def _roll_back(connection: sqlite3.Connection) -> None:
        try:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the next BEGIN reports a connection that is really broken

    @staticmethod
    def _run_in_savepoint(
        connection: sqlite3.Connection, item: _WriteJob[Any]
    ) -> tuple[_WriteJob[Any], Any, BaseException | None]:
        if not item.future.set_running_or_notify_cancel():
            return item, None, None
        connection.execute("SAVEPOINT job")
        try:
            result = _run(item.job, connection)
        except Exception as exc:
            # One failing write must not undo the others committed with it.
            connection.execute("ROLLBACK TO job")
            connection.execute("RELEASE job")
            return item, None, exc
        connection.execute("RELEASE job")
        return item, result, None
