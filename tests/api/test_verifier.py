from __future__ import annotations

from pathlib import Path

from semcache.embedding.verifier import VerifierRegistry
from semcache.testing.fakes import FakeVerifier
from tests.api.conftest import Deployment


def test_a_cache_made_over_http_can_switch_the_verifier_off(deployment: Deployment) -> None:
    client, admin = deployment.client, deployment.headers(deployment.admin_key)
    created = client.post("/admin/v1/caches", json={"verifier": "off"}, headers=admin)
    assert created.status_code == 201 and created.json()["verifier"] == "off"
    default = client.post("/admin/v1/caches", json={}, headers=admin).json()
    assert default["verifier"] is None  # follows the server's verifier setting
    shown = client.get(f"/admin/v1/caches/{created.json()['id']}", headers=admin).json()
    assert shown["verifier"] == "off"
    bad = client.post("/admin/v1/caches", json={"verifier": "nope"}, headers=admin)
    assert bad.status_code == 400 and "verifier" in bad.text


def test_with_the_verifier_setting_off_searches_use_cosine(deployment_factory) -> None:
    deployment = deployment_factory(verifier="off")
    client, headers = deployment.client, deployment.headers()
    client.post(
        deployment.url("/entries"), json={"prompt": "cat", "response": "r"}, headers=headers
    )
    found = client.post(
        deployment.url("/entries/search"),
        json={"prompt": "cat~1", "similarityThreshold": 0.95},
        headers=headers,
    ).json()["data"]
    assert [round(hit["similarity"], 3) for hit in found] == [0.958]


def test_with_a_verifier_similarity_is_its_score_and_the_threshold_applies_to_it(
    deployment_factory, tmp_path: Path
) -> None:
    verifiers = VerifierRegistry(models_dir=tmp_path)
    verifiers.register("fv", FakeVerifier({("cat~1", "cat"): 0.42}, default_threshold=0.3))
    deployment = deployment_factory(verifiers=verifiers, verifier="fv")
    client, headers = deployment.client, deployment.headers()
    cache_id, key = deployment.new_cache()  # follows the verifier setting
    headers = deployment.headers(key)
    client.post(
        deployment.url("/entries", cache_id),
        json={"prompt": "cat", "response": "r"},
        headers=headers,
    )
    search = deployment.url("/entries/search", cache_id)
    [hit] = client.post(search, json={"prompt": "cat~1"}, headers=headers).json()["data"]
    assert hit["similarity"] == 0.42 and hit["searchStrategy"] == "semantic"
    strict = client.post(
        search, json={"prompt": "cat~1", "similarityThreshold": 0.5}, headers=headers
    )
    assert strict.json()["data"] == []
    exact = client.post(
        search, json={"prompt": "CAT", "searchStrategies": ["exact"]}, headers=headers
    ).json()["data"]
    assert exact[0]["similarity"] == 1.0
