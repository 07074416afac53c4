from __future__ import annotations

import time

from tests.api.conftest import Deployment


def _store(deployment: Deployment, *prompts: str) -> list[str]:
    ids = []
    for prompt in prompts:
        response = deployment.client.post(
            deployment.url("/entries"),
            json={"prompt": prompt, "response": f"answer to {prompt}"},
            headers=deployment.headers(),
        )
        ids.append(response.json()["entryId"])
    return ids


def _search(deployment: Deployment, prompt: str) -> list[object]:
    response = deployment.client.post(
        deployment.url("/entries/search"), json={"prompt": prompt}, headers=deployment.headers()
    )
    return list(response.json()["data"])


def _wait_for_searches(deployment: Deployment, searches: int) -> dict[str, object]:
    admin = deployment.headers(deployment.admin_key)
    deadline = time.monotonic() + 10
    while True:
        stats = deployment.client.get(
            f"/admin/v1/caches/{deployment.cache_id}/stats?window=hour", headers=admin
        ).json()
        if stats["searches"] >= searches or time.monotonic() > deadline:
            return dict(stats)
        time.sleep(0.05)


def test_statistics_of_a_cache_over_a_window(deployment_factory) -> None:
    deployment = deployment_factory(stats_flush_seconds=0.05)
    _store(deployment, "cat", "dog")
    assert _search(deployment, "cat") and _search(deployment, "cat~1")
    assert not _search(deployment, "fish")
    stats = _wait_for_searches(deployment, 3)
    assert stats["window"] == "hour" and stats["stepMillis"] == 60_000
    assert (stats["searches"], stats["hits"], stats["items"]) == (3, 2, 2)
    assert stats["hitRatio"] == 2 / 3 and stats["threshold"] == 0.9
    assert len(stats["points"]) == 60  # type: ignore[arg-type]
    similarity = stats["similarity"]
    assert sum(similarity["counts"]) == 3 and similarity["bounds"][-1] == 1.0  # type: ignore[index]
    admin = deployment.headers(deployment.admin_key)
    every = deployment.client.get("/admin/v1/stats?window=week", headers=admin).json()
    assert every["window"] == "week"
    assert [c["searches"] for c in every["caches"]] == [3]
    assert "points" not in every["caches"][0]


def test_statistics_need_an_admin_key_and_a_known_window(deployment: Deployment) -> None:
    path = f"/admin/v1/caches/{deployment.cache_id}/stats"
    client, admin = deployment.client, deployment.headers(deployment.admin_key)
    assert client.get(path).status_code == 401
    assert client.get(path, headers=deployment.headers()).status_code == 403
    assert client.get(f"{path}?window=year", headers=admin).status_code == 400
    assert client.get("/admin/v1/caches/nope/stats", headers=admin).status_code == 404


def test_entries_come_in_pages_newest_first_and_can_be_deleted(deployment: Deployment) -> None:
    client, admin = deployment.client, deployment.headers(deployment.admin_key)
    ids = _store(deployment, *(f"prompt {n}" for n in range(5)))
    path = f"/admin/v1/caches/{deployment.cache_id}/entries"
    first = client.get(f"{path}?limit=3", headers=admin).json()
    assert len(first["entries"]) == 3 and first["nextCursor"]
    second = client.get(f"{path}?limit=3&cursor={first['nextCursor']}", headers=admin).json()
    assert len(second["entries"]) == 2 and second["nextCursor"] is None
    listed = [e["id"] for e in first["entries"] + second["entries"]]
    assert sorted(listed) == sorted(ids)
    assert first["entries"][0]["prompt"].startswith("prompt ")
    assert set(first["entries"][0]) == {
        "id",
        "prompt",
        "response",
        "attributes",
        "createdAt",
        "expiresAt",
    }
    assert client.delete(f"{path}/{ids[0]}", headers=admin).status_code == 204
    assert client.delete(f"{path}/{ids[0]}", headers=admin).status_code == 404
    assert len(client.get(path, headers=admin).json()["entries"]) == 4
    for bad in ("limit=0", "limit=501", "limit=x", "cursor=nonsense"):
        assert client.get(f"{path}?{bad}", headers=admin).status_code == 400, bad
    assert client.get(path, headers=deployment.headers()).status_code == 403


def test_explain_shows_candidates_and_the_decision_of_a_real_search(
    deployment_factory,
) -> None:
    deployment = deployment_factory(stats_flush_seconds=0.05)
    client, admin = deployment.client, deployment.headers(deployment.admin_key)
    _store(deployment, "cat", "cat~2", "cat~3", "dog")
    path = f"/admin/v1/caches/{deployment.cache_id}/explain"
    body = {"prompt": "cat~1", "maxResults": 1, "candidates": 3.0}  # JSON has no int type
    explained = client.post(path, json=body, headers=admin).json()
    real = client.post(
        deployment.url("/entries/search"),
        json={"prompt": "cat~1", "maxResults": 1},
        headers=deployment.headers(),
    ).json()
    assert explained["decision"] == "hit" and explained["data"] == real["data"]
    assert explained["threshold"] == 0.9
    decisions = [(c["prompt"], c["decision"]) for c in explained["candidates"]]
    assert decisions == [
        ("cat", "hit"),
        ("cat~2", "not-considered"),
        ("cat~3", "not-considered"),
    ]
    assert explained["candidates"][0]["similarity"] >= 0.9
    assert set(explained["timings"]) == {"embeddingMs", "searchMs", "verificationMs", "totalMs"}
    miss = client.post(path, json={"prompt": "cat~1", "similarityThreshold": 0.99}, headers=admin)
    assert miss.json()["decision"] == "miss"
    assert miss.json()["candidates"][0]["decision"] == "below-threshold"
    assert (
        client.post(path, json={"prompt": "x", "candidates": 101}, headers=admin).status_code == 400
    )
    # Explaining is not searching: the statistics count only the real search.
    assert _wait_for_searches(deployment, 1)["searches"] == 1


def test_explain_marks_exact_hits_and_what_they_crowd_out(deployment: Deployment) -> None:
    client, admin = deployment.client, deployment.headers(deployment.admin_key)
    _store(deployment, "cat", "cat~1")
    body = {"prompt": "cat", "searchStrategies": ["exact", "semantic"], "maxResults": 2}
    explained = client.post(
        f"/admin/v1/caches/{deployment.cache_id}/explain", json=body, headers=admin
    ).json()
    decisions = [(c["searchStrategy"], c["prompt"], c["decision"]) for c in explained["candidates"]]
    assert decisions[0] == ("exact", "cat", "hit")
    assert ("semantic", "cat", "already-found") in decisions
    assert ("semantic", "cat~1", "hit") in decisions
