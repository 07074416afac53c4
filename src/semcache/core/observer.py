"""What the cache service reports about its work, for metrics and statistics.

The service measures each search as it runs, in a `SearchTrace`, and hands the finished
trace to a `CacheObserver`. Observers are called on the event loop, in the request: they
must only count, never wait.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from time import perf_counter
from types import TracebackType
from typing import Protocol

from semcache.core.models import Strategy
from semcache.store.base import Entry
from semcache.types import CacheId, EntryId

__all__ = [
    "CacheObserver",
    "Decision",
    "ExplainedCandidate",
    "NullObserver",
    "ObserverGroup",
    "SearchTrace",
    "Stage",
]


class Stage(enum.StrEnum):
    """The parts of a search whose time is measured."""

    EMBEDDING = "embedding"
    """Turning the prompt into a vector."""
    SEARCH = "search"
    """Looking entries up in the store, exactly or by vector."""
    VERIFICATION = "verification"
    """Judging the semantic candidates (the verifier, when a cache has one)."""


class Decision(enum.StrEnum):
    """What a search made of a candidate entry."""

    HIT = "hit"
    BELOW_THRESHOLD = "below-threshold"
    ALREADY_FOUND = "already-found"
    """A semantic candidate the exact strategy had already returned."""
    BEYOND_MAX_RESULTS = "beyond-max-results"
    NOT_CONSIDERED = "not-considered"
    """Fetched only to be shown: a real search would not have looked this far."""


@dataclass(frozen=True, slots=True)
class ExplainedCandidate:
    """An entry a search found, and what it decided about it.

    ``similarity`` is what the threshold was compared with (None if the search did not
    judge the candidate); ``cosine`` is the cosine similarity of the two prompts'
    embeddings (None for an exact hit).
    """

    entry: Entry
    strategy: Strategy
    decision: Decision
    similarity: float | None
    cosine: float | None = None


class _Timer:
    __slots__ = ("_stage", "_started", "_trace")

    def __init__(self, trace: SearchTrace, stage: Stage) -> None:
        self._trace, self._stage, self._started = trace, stage, 0.0

    def __enter__(self) -> None:
        self._started = perf_counter()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        seconds = self._trace.stage_seconds
        seconds[self._stage] = seconds.get(self._stage, 0.0) + perf_counter() - self._started


@dataclass(frozen=True, slots=True)
class _Weighed:
    entry: Entry
    strategy: Strategy
    similarity: float | None
    cosine: float | None
    passed: bool


@dataclass(slots=True)
class SearchTrace:
    """One search, measured as it ran.

    ``lookups`` has one ``(strategy, found)`` pair per strategy that ran. ``nearest`` is
    the best similarity the semantic lookup judged, hit or miss (None when no semantic
    lookup ran or it found no candidate). A trace with ``show`` also keeps every candidate
    the search weighed, and at least ``show`` semantic ones: after `finish`, they are in
    ``candidates`` with what was decided about each. That is how a search is explained.
    """

    show: int = 0
    started: float = field(default_factory=perf_counter)
    seconds: float = 0.0
    hit: bool = False
    threshold: float | None = None
    nearest: float | None = None
    lookups: list[tuple[Strategy, bool]] = field(default_factory=list)
    stage_seconds: dict[Stage, float] = field(default_factory=dict)
    candidates: list[ExplainedCandidate] = field(default_factory=list)
    _weighed: list[_Weighed] = field(default_factory=list)

    def timing(self, stage: Stage) -> _Timer:
        """A context manager adding the time spent inside it to ``stage``."""
        return _Timer(self, stage)

    def weigh(
        self,
        entry: Entry,
        strategy: Strategy,
        *,
        similarity: float | None,
        cosine: float | None = None,
        passed: bool = False,
    ) -> None:
        """Note a candidate: its similarity if it was judged, and whether it passed."""
        if strategy is Strategy.SEMANTIC and similarity is not None:
            self.nearest = similarity if self.nearest is None else max(self.nearest, similarity)
        if self.show:
            self._weighed.append(_Weighed(entry, strategy, similarity, cosine, passed))

    def finish(self, returned: Sequence[tuple[Strategy, EntryId]]) -> None:
        """Stop the clock; ``returned`` is what the search answered, best first."""
        self.seconds = perf_counter() - self.started
        self.hit = bool(returned)
        if self.show:
            final = set(returned)
            exact = {w.entry.id for w in self._weighed if w.strategy is Strategy.EXACT}
            self.candidates = [
                ExplainedCandidate(
                    w.entry, w.strategy, _decision(w, final, exact), w.similarity, w.cosine
                )
                for w in self._weighed
            ]


def _decision(
    weighed: _Weighed, final: set[tuple[Strategy, EntryId]], exact: set[EntryId]
) -> Decision:
    if weighed.similarity is None:
        return Decision.NOT_CONSIDERED
    if not weighed.passed:
        return Decision.BELOW_THRESHOLD
    if (weighed.strategy, weighed.entry.id) in final:
        return Decision.HIT
    if weighed.strategy is Strategy.SEMANTIC and weighed.entry.id in exact:
        return Decision.ALREADY_FOUND
    return Decision.BEYOND_MAX_RESULTS


class CacheObserver(Protocol):
    """Told about each search and each change of entries. Must return at once."""

    def searched(self, cache_id: CacheId, trace: SearchTrace) -> None:
        """A search of the cache finished without error."""
        ...

    def changed(self, cache_id: CacheId) -> None:
        """Entries of the cache were stored or deleted."""
        ...


class NullObserver:
    """Observes nothing."""

    def searched(self, cache_id: CacheId, trace: SearchTrace) -> None:
        return None

    def changed(self, cache_id: CacheId) -> None:
        return None


class ObserverGroup:
    """Tells several observers, in order."""

    def __init__(self, *observers: CacheObserver) -> None:
        self.observers = observers

    def searched(self, cache_id: CacheId, trace: SearchTrace) -> None:
        for observer in self.observers:
            observer.searched(cache_id, trace)

    def changed(self, cache_id: CacheId) -> None:
        for observer in self.observers:
            observer.changed(cache_id)
