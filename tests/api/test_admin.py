from __future__ import annotations

from tests.api.conftest import Deployment


def test_caches_are_created_listed_shown_and_deleted(deployment: Deployment) -> None:
    client, admin = deployment.client, deployment.headers(deployment.admin_key)
    created = client.post(
        "/admin/v1/caches",
        json={
            "name": "docs",
            "attributes": ["lang"],
            "similarityThreshold": 0.8,
            "ttlMillis": 60000,
        },
        headers=admin,
    )
    assert created.status_code == 201
    cache = created.json()
    assert cache["attributes"] == ["lang"] and cache["similarityThreshold"] == 0.8
    assert cache["ttlMillis"] == 60000 and cache["embedder"] == "fake"
    listed = client.get("/admin/v1/caches", headers=admin).json()["caches"]
    assert {c["id"] for c in listed} == {deployment.cache_id, cache["id"]}
    shown = client.get(f"/admin/v1/caches/{cache['id']}", headers=admin).json()
    assert shown["entries"] == 0
    assert client.delete(f"/admin/v1/caches/{cache['id']}", headers=admin).status_code == 204
    assert client.get(f"/admin/v1/caches/{cache['id']}", headers=admin).status_code == 404


def test_a_chosen_cache_id_is_kept_and_cannot_be_taken_twice(deployment: Deployment) -> None:
    client, admin = deployment.client, deployment.headers(deployment.admin_key)
    assert client.post("/admin/v1/caches", json={"id": "prod"}, headers=admin).status_code == 201
    again = client.post("/admin/v1/caches", json={"id": "prod"}, headers=admin)
    assert again.status_code == 409
    bad = client.post("/admin/v1/caches", json={"id": "has/slash"}, headers=admin)
    assert bad.status_code == 400


def test_bad_cache_settings_are_400(deployment: Deployment) -> None:
    client, admin = deployment.client, deployment.headers(deployment.admin_key)
    for body in (
        {"similarityThreshold": 2},
        {"ttlMillis": 0},
        {"attributes": ["a b"]},
        {"attributes": ["a", "a"]},
        {"attributes": ["a", "b", "c", "d", "e", "f"]},
        {"embedder": "nope"},
    ):
        assert client.post("/admin/v1/caches", json=body, headers=admin).status_code == 400, body


def test_new_keys_work_and_revoked_keys_stop_at_once(deployment: Deployment) -> None:
    client, admin = deployment.client, deployment.headers(deployment.admin_key)
    issued = client.post(
        f"/admin/v1/caches/{deployment.cache_id}/keys", json={"label": "app"}, headers=admin
    ).json()
    assert issued["apiKey"].startswith("sc_") and issued["label"] == "app"
    search = deployment.url("/entries/search")
    user = deployment.headers(issued["apiKey"])
    assert client.post(search, json={"prompt": "x"}, headers=user).status_code == 200
    keys = client.get(f"/admin/v1/caches/{deployment.cache_id}/keys", headers=admin).json()["keys"]
    assert issued["keyId"] in {k["keyId"] for k in keys}
    assert all("apiKey" not in k for k in keys)
    assert client.delete(f"/admin/v1/keys/{issued['keyId']}", headers=admin).status_code == 204
    assert client.post(search, json={"prompt": "x"}, headers=user).status_code == 401
    assert client.delete(f"/admin/v1/keys/{issued['keyId']}", headers=admin).status_code == 404


def test_the_admin_api_refuses_cache_keys_and_no_keys(deployment: Deployment) -> None:
    client = deployment.client
    assert client.get("/admin/v1/caches").status_code == 401
    assert client.get("/admin/v1/caches", headers=deployment.headers()).status_code == 403
