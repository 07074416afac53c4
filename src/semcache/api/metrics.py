"""Prometheus metrics: what they are, how the cache service's observations feed them, and
the ``/metrics`` endpoint.

With several worker processes (``PROMETHEUS_MULTIPROC_DIR`` set, as ``semcache serve
--workers N`` does), every process writes its values to files in that directory and a
scrape of any worker adds up all of them. Entries per cache are counted in the store at
scrape time, so they are right whichever worker answers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from semcache.core.models import Strategy
from semcache.core.observer import SearchTrace, Stage
from semcache.core.services import Services
from semcache.core.stats import SIMILARITY_BOUNDS
from semcache.types import CacheId

__all__ = ["MULTIPROCESS_ENV", "Metrics", "metrics_endpoint", "multiprocess_directory"]

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
)  # fmt: skip
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_RESULT = {True: "hit", False: "miss"}


class Metrics:
    """The server's metrics, in a registry of their own.

    It is a `CacheObserver` (searches and their stages), and `request` and
    `embedding_batch` are called by the access middleware and the embedders. Label
    children are kept in dictionaries, as a lookup there is cheaper than ``labels()``.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "semcache_http_requests",
            "HTTP requests answered, by route, method and status code",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "semcache_http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.searches = Counter(
            "semcache_searches",
            "Searches, by cache and result (hit: at least one entry returned)",
            ["cache", "result"],
            registry=self.registry,
        )
        self.lookups = Counter(
            "semcache_strategy_lookups",
            "Lookups by each search strategy that ran, by cache and result",
            ["cache", "strategy", "result"],
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "semcache_search_stage_duration_seconds",
            "Time searches spent in each stage: embedding, search (the store) and verification",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.nearest = Histogram(
            "semcache_search_nearest_similarity",
            "Similarity of the nearest semantic candidate on every search, hit or miss",
            ["cache"],
            buckets=SIMILARITY_BOUNDS,
            registry=self.registry,
        )
        self.batch_sizes = Histogram(
            "semcache_embedding_batch_size",
            "Prompts embedded per model call (concurrent requests share calls)",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self._requests: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._searches: dict[tuple[CacheId, bool], Any] = {}
        self._lookups: dict[tuple[CacheId, Strategy, bool], Any] = {}
        self._stages: dict[Stage, Any] = {}
        self._nearest: dict[CacheId, Any] = {}

    def request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        """Count one answered HTTP request."""
        key = (endpoint, method, status)
        children = self._requests.get(key)
        if children is None:
            children = self._requests[key] = (
                self.requests.labels(endpoint, method, str(status)),
                self.request_seconds.labels(endpoint),
            )
        children[0].inc()
        children[1].observe(seconds)

    def searched(self, cache_id: CacheId, trace: SearchTrace) -> None:
        key = (cache_id, trace.hit)
        search = self._searches.get(key)
        if search is None:
            search = self._searches[key] = self.searches.labels(cache_id, _RESULT[trace.hit])
        search.inc()
        for strategy, found in trace.lookups:
            lookup = self._lookups.get((cache_id, strategy, found))
            if lookup is None:
                lookup = self.lookups.labels(cache_id, strategy, _RESULT[found])
                self._lookups[cache_id, strategy, found] = lookup
            lookup.inc()
        for stage, seconds in trace.stage_seconds.items():
            timer = self._stages.get(stage)
            if timer is None:
                timer = self._stages[stage] = self.stage_seconds.labels(stage)
            timer.observe(seconds)
        if trace.nearest is not None:
            nearest = self._nearest.get(cache_id)
            if nearest is None:
                nearest = self._nearest[cache_id] = self.nearest.labels(cache_id)
            nearest.observe(trace.nearest)

    def changed(self, cache_id: CacheId) -> None:
        return None

    def embedding_batch(self, size: int) -> None:
        """Count one model call over ``size`` prompts."""
        self.batch_sizes.observe(size)

    def exposition(self, entries: dict[CacheId, int]) -> bytes:
        """The text exposition of every metric, with these entry counts per cache."""
        registry = self.registry
        if os.environ.get(MULTIPROCESS_ENV):
            registry = CollectorRegistry(auto_describe=True)
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        counts = CollectorRegistry()
        counts.register(_EntryCounts(entries))
        return generate_latest(registry) + generate_latest(counts)


class _EntryCounts(Collector):
    def __init__(self, entries: dict[CacheId, int]) -> None:
        self.entries = entries

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "semcache_cache_entries", "Live entries per cache", labels=["cache"]
        )
        for cache_id, count in self.entries.items():
            family.add_metric([cache_id], count)
        yield family


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus metrics; the admin key is needed unless the metrics are public."""
    services: Services = request.state.services
    metrics: Metrics = request.state.metrics
    if not request.state.metrics_public:
        await services.keys.authorize_admin(request.headers.get("authorization"))
    now = services.cache.clock()
    entries = {
        cache.id: await services.store.count(cache.id, now=now)
        for cache in await services.store.list_caches()
    }
    return Response(metrics.exposition(entries), media_type=CONTENT_TYPE_LATEST)


@contextlib.contextmanager
def multiprocess_directory(workers: int) -> Iterator[None]:
    """With several worker processes, a new directory for their metric files, named by
    ``PROMETHEUS_MULTIPROC_DIR`` while inside and removed after. A directory the
    environment already names is used as it is (it should be empty at start)."""
    if workers <= 1 or os.environ.get(MULTIPROCESS_ENV):
        yield
        return
    directory = tempfile.mkdtemp(prefix="semcache-metrics-")
    os.environ[MULTIPROCESS_ENV] = directory
    try:
        yield
    finally:
        del os.environ[MULTIPROCESS_ENV]
        shutil.rmtree(directory, ignore_errors=True)
