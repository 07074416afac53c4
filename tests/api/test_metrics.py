from __future__ import annotations

import os
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from semcache.api.metrics import MULTIPROCESS_ENV, Metrics, multiprocess_directory
from semcache.core.models import Strategy
from semcache.core.observer import SearchTrace, Stage
from semcache.errors import ConfigError
from tests.api.conftest import Deployment


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_need_the_admin_key_and_count_searches(deployment: Deployment) -> None:
    client, admin = deployment.client, deployment.headers(deployment.admin_key)
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=deployment.headers()).status_code == 403
    client.post(
        deployment.url("/entries"),
        json={"prompt": "cat", "response": "meow"},
        headers=deployment.headers(),
    )
    for prompt in ("cat", "cat~1", "dog"):
        client.post(
            deployment.url("/entries/search"),
            json={"prompt": prompt},
            headers=deployment.headers(),
        )
    response = client.get("/metrics", headers=admin)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = _samples(response.text)
    cache = deployment.cache_id

    def value(name: str, **labels: str) -> float:
        return samples.get((name, frozenset(labels.items())), 0.0)

    assert value("semcache_searches_total", cache=cache, result="hit") == 2
    assert value("semcache_searches_total", cache=cache, result="miss") == 1
    assert (
        value("semcache_strategy_lookups_total", cache=cache, strategy="semantic", result="hit")
        == 2
    )
    assert value("semcache_search_nearest_similarity_count", cache=cache) == 3
    assert value("semcache_search_nearest_similarity_bucket", cache=cache, le="1.0") == 3
    assert value("semcache_search_nearest_similarity_bucket", cache=cache, le="0.95") == 1
    assert value("semcache_cache_entries", cache=cache) == 1
    endpoint = "/v1/caches/{cache_id}/entries/search"
    assert (
        value("semcache_http_requests_total", endpoint=endpoint, method="POST", status="200") == 3
    )
    assert (
        value("semcache_http_requests_total", endpoint="/metrics", method="GET", status="401") == 1
    )
    assert value("semcache_search_stage_duration_seconds_count", stage="embedding") == 3


def test_metrics_can_be_public_or_off(deployment_factory) -> None:
    public = deployment_factory(metrics_public=True)
    assert public.client.get("/metrics").status_code == 200
    off = deployment_factory(metrics=False)
    assert off.client.get("/metrics", headers=off.headers(off.admin_key)).status_code == 404
    search = off.client.post(
        off.url("/entries/search"), json={"prompt": "x"}, headers=off.headers()
    )
    assert search.status_code == 200 and search.headers["x-request-id"]


def test_observations_become_samples() -> None:
    metrics = Metrics()
    trace = SearchTrace(hit=False, nearest=0.42)
    trace.lookups += [(Strategy.EXACT, False), (Strategy.SEMANTIC, False)]
    trace.stage_seconds.update({Stage.EMBEDDING: 0.002, Stage.VERIFICATION: 0.001})
    metrics.searched("c", trace)
    metrics.embedding_batch(5)
    samples = _samples(metrics.exposition({"c": 7}).decode())
    assert (
        samples[("semcache_searches_total", frozenset({("cache", "c"), ("result", "miss")}))] == 1
    )
    exact_miss = frozenset({("cache", "c"), ("strategy", "exact"), ("result", "miss")})
    assert samples[("semcache_strategy_lookups_total", exact_miss)] == 1
    verification = frozenset({("stage", "verification"), ("le", "0.001")})
    assert samples[("semcache_search_stage_duration_seconds_bucket", verification)] == 1
    assert samples[("semcache_embedding_batch_size_bucket", frozenset({("le", "8.0")}))] == 1
    assert samples[("semcache_cache_entries", frozenset({("cache", "c")}))] == 7


def test_several_workers_get_a_directory_of_their_own(monkeypatch) -> None:
    monkeypatch.delenv(MULTIPROCESS_ENV, raising=False)
    with multiprocess_directory(1):
        assert MULTIPROCESS_ENV not in os.environ
    with multiprocess_directory(2):
        directory = Path(os.environ[MULTIPROCESS_ENV])
        assert directory.is_dir()
    assert MULTIPROCESS_ENV not in os.environ and not directory.exists()
    monkeypatch.setenv(MULTIPROCESS_ENV, "/given")
    with multiprocess_directory(2):
        assert os.environ[MULTIPROCESS_ENV] == "/given"


def test_statistics_must_be_flushed_now_and_then(deployment_factory) -> None:
    with pytest.raises(ConfigError, match="stats_flush_seconds"):
        deployment_factory(stats_flush_seconds=0)
