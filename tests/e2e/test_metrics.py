"""``/metrics`` scraped from a real server with two worker processes, statistics that add
up over both, and the JSON lines they log."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from semcache.testing.server import ServerProcess

SEARCHES = 24


@pytest.fixture(scope="module")
def metrics_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prometheus")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, metrics_dir: Path) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("metrics") / "data"
    with ServerProcess(
        data_dir,
        args=[
            *("--workers", "2"),
            *("--setting", "stats_flush_seconds", "0.2"),
            *("--setting", "log_format", "json"),
        ],
        env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)},
    ) as running:
        yield running


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape(server: ServerProcess) -> Samples:
    """Every sample of one scrape, on a new connection (so any worker may answer)."""
    response = httpx.get(
        f"{server.url}/metrics", headers={"Authorization": f"Bearer {server.admin_key}"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _search(server: ServerProcess, prompt: str) -> None:
    values = server.quickstart
    with httpx.Client(base_url=server.url) as fresh:
        response = fresh.post(
            f"/v1/caches/{values['CACHE_ID']}/entries/search",
            json={"prompt": prompt, "searchStrategies": ["exact", "semantic"]},
            headers={"Authorization": f"Bearer {values['API_KEY']}"},
        )
    assert response.status_code == 200


def test_metrics_need_the_admin_key(server: ServerProcess) -> None:
    assert httpx.get(f"{server.url}/metrics").status_code == 401
    api_key = {"Authorization": f"Bearer {server.quickstart['API_KEY']}"}
    assert httpx.get(f"{server.url}/metrics", headers=api_key).status_code == 403


def test_counters_move_and_add_up_over_both_workers(
    server: ServerProcess, metrics_dir: Path
) -> None:
    cache_id, api_key = server.quickstart["CACHE_ID"], server.quickstart["API_KEY"]
    before = _scrape(server)
    httpx.post(
        f"{server.url}/v1/caches/{cache_id}/entries",
        json={"prompt": "Where is the station?", "response": "Left, then right."},
        headers={"Authorization": f"Bearer {api_key}"},
    ).raise_for_status()
    for number in range(SEARCHES):
        _search(server, "where is the station?" if number % 2 else f"unrelated {number}")
    for _ in range(6):
        _check_counters(_scrape(server), before, cache_id)
    assert _workers_that_searched(metrics_dir, cache_id) == 2


def _check_counters(samples: Samples, before: Samples, cache_id: str) -> None:
    def moved(name: str, **labels: str) -> float:
        return _value(samples, name, **labels) - _value(before, name, **labels)

    search = "/v1/caches/{cache_id}/entries/search"
    assert moved("semcache_http_requests_total", endpoint=search, method="POST", status="200") == (
        SEARCHES
    )
    assert moved("semcache_searches_total", cache=cache_id, result="hit") == SEARCHES / 2
    assert moved("semcache_searches_total", cache=cache_id, result="miss") == SEARCHES / 2
    exact = moved("semcache_strategy_lookups_total", cache=cache_id, strategy="exact", result="hit")
    assert exact == SEARCHES / 2
    # The semantic lookups, which exact hits made unnecessary.
    assert moved("semcache_search_nearest_similarity_count", cache=cache_id) == SEARCHES / 2
    assert moved("semcache_search_stage_duration_seconds_count", stage="embedding") > 0
    assert _value(samples, "semcache_cache_entries", cache=cache_id) == 1
    assert moved("semcache_embedding_batch_size_count") >= SEARCHES / 2


def _workers_that_searched(metrics_dir: Path, cache_id: str) -> int:
    """How many processes' own files count searches of the cache."""
    workers = 0
    for path in metrics_dir.glob("counter_*.db"):
        values = MmapedDict.read_all_values_from_file(str(path))
        if any("semcache_searches" in key and cache_id in key and v for key, v, *_ in values):
            workers += 1
    return workers


def test_statistics_add_up_over_both_workers(server: ServerProcess) -> None:
    cache_id = server.quickstart["CACHE_ID"]
    admin = {"Authorization": f"Bearer {server.admin_key}"}
    deadline = time.monotonic() + 20
    while True:
        stats = httpx.get(f"{server.url}/admin/v1/caches/{cache_id}/stats", headers=admin).json()
        if stats["searches"] >= SEARCHES or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (stats["searches"], stats["hits"], stats["hitRatio"]) == (SEARCHES, 12, 0.5)
    assert stats["items"] == 1 and stats["p95LatencyMs"] > 0


def test_each_request_is_one_json_line_with_its_id_and_no_key(server: ServerProcess) -> None:
    api_key = server.quickstart["API_KEY"]
    response = httpx.post(
        f"{server.url}/v1/caches/{server.quickstart['CACHE_ID']}/entries/search",
        json={"prompt": "a secret prompt"},
        headers={"Authorization": f"Bearer {api_key}", "X-Request-ID": "trace-me-42"},
    )
    assert response.headers["x-request-id"] == "trace-me-42"
    deadline = time.monotonic() + 10
    while '"trace-me-42"' not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    [line] = [line for line in lines if line.get("request_id") == "trace-me-42"]
    assert line["logger"] == "semcache.access" and line["status"] == 200
    assert line["endpoint"] == "/v1/caches/{cache_id}/entries/search"
    for logged in lines:
        assert api_key not in json.dumps(logged) and "a secret prompt" not in json.dumps(logged)
    assert any(line["message"] == "semcache is ready" for line in lines)
