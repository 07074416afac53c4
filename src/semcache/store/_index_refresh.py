"""Bringing vector indexes up to date while writes pause, so that searches need not."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from semcache.types import CacheId

__all__ = ["QuietRefresher"]

logger = logging.getLogger(__name__)

DEFAULT_QUIET = 0.05
"""Seconds without a write after which the caches written to are brought up to date."""


class QuietRefresher:
    """Calls ``refresh(cache_id)`` on its own thread for every cache written to, once no
    write has come for ``quiet`` seconds.

    A search brings its cache's index up to date with the change log before it answers,
    so after a burst of writes the first search would add every vector written meanwhile
    (0.3 s after 500 sets at 100,000 entries). Done once the writes pause, that work
    delays no search, and a burst of writes does not slow itself down with it.
    """

    def __init__(self, refresh: Callable[[CacheId], None], *, quiet: float = DEFAULT_QUIET) -> None:
        self._refresh = refresh
        self._quiet = quiet
        self._written: set[CacheId] = set()
        self._last_write = 0.0
        self._closed = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(
            target=self._run, name="semcache-index-refresh", daemon=True
        )
        self._thread.start()

    def wrote(self, cache_id: CacheId) -> None:
        """Note a committed write to the cache."""
        with self._changed:
            # Only a thread with nothing to do waits without a timeout; any other wakes
            # on its own to see whether the writes have paused.
            idle = not self._written
            self._written.add(cache_id)
            self._last_write = time.monotonic()
            if idle:
                self._changed.notify()

    def close(self) -> None:
        """Stop the thread, after the refresh it is running, if any; later writes are
        left to the searches."""
        with self._changed:
            self._closed = True
            self._changed.notify()
        self._thread.join()

    def _run(self) -> None:
        while (due := self._due()) is not None:
            for cache_id in due:
                try:
                    self._refresh(cache_id)
                except Exception:
                    logger.exception("bringing the index of cache %r up to date failed", cache_id)

    def _due(self) -> set[CacheId] | None:
        """The caches written to, once writes have paused; None once closed."""
        with self._changed:
            while not self._closed:
                paused = time.monotonic() - self._last_write
                if self._written and paused >= self._quiet:
                    due, self._written = self._written, set()
                    return due
                self._changed.wait(self._quiet - paused if self._written else None)
            return None
