from __future__ import annotations

import pytest

from semcache.api.errors import Client, client_of
from tests.api.conftest import Deployment

PYTHON_14 = "speakeasy-sdk/python 0.14.0 2.932.9 langcache"
PYTHON_11 = "speakeasy-sdk/python 0.11.1 2.700.0 langcache"
PYTHON_9 = "speakeasy-sdk/python 0.9.7 2.600.0 1.0 langcache"
NODE = "speakeasy-sdk/typescript 0.11.1 2.760.2 @redis-ai/langcache"


def assert_error(response, status: int, type_: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert {"type", "title", "status", "detail", "instance"} <= set(body)
    assert body["status"] == status
    assert None not in body.values()
    if type_ is not None:
        assert body["type"] == type_
    return body


def test_the_error_shape(deployment: Deployment) -> None:
    response = deployment.client.post(
        deployment.url("/entries/search"), json={"prompt": ""}, headers=deployment.headers()
    )
    assert response.json() == {
        "type": "/errors/invalid-data",
        "title": "Invalid Request",
        "status": 400,
        "detail": "prompt: cannot be blank",
        "instance": f"/v1/caches/{deployment.cache_id}/entries/search",
        "fields": [{"field": "prompt", "rule": "required", "message": "cannot be blank"}],
    }


def test_a_nul_character_is_refused_with_the_field_named(deployment: Deployment) -> None:
    response = deployment.client.post(
        deployment.url("/entries"),
        json={"prompt": "How do I sort a list?", "response": "Use sorted().\u0000"},
        headers=deployment.headers(),
    )
    body = assert_error(response, 400, "/errors/invalid-data")
    assert body["detail"] == "response: cannot contain the character U+0000"


@pytest.mark.parametrize(
    ("agent", "client"),
    [
        (PYTHON_14, Client.CURRENT),
        ("speakeasy-sdk/python 0.12.0 2.800.0 langcache", Client.CURRENT),
        (PYTHON_11, Client.V0_10),
        ("speakeasy-sdk/python 0.10.0 2.600.0 langcache", Client.V0_10),
        (NODE, Client.V0_10),
        (PYTHON_9, Client.V0_9),
        ("curl/8.0", Client.CURRENT),
        ("", Client.CURRENT),
    ],
)
def test_clients_are_told_apart_by_user_agent(agent: str, client: Client) -> None:
    assert client_of(agent) is client


@pytest.mark.parametrize(
    ("agent", "type_"),
    [
        (PYTHON_14, "/errors/resource-not-found"),
        (NODE, "/errors/cache/entry/not-found"),
        (PYTHON_11, "/errors/cache/entry/not-found"),
        (PYTHON_9, "/errors/not-found"),
    ],
)
def test_not_found_type_suits_the_client(deployment: Deployment, agent: str, type_: str) -> None:
    response = deployment.client.delete(
        deployment.url("/entries/" + "0" * 32),
        headers={**deployment.headers(), "user-agent": agent},
    )
    assert_error(response, 404, type_)


@pytest.mark.parametrize(
    ("agent", "unauthenticated", "forbidden"),
    [
        (PYTHON_14, "/errors/authentication-failed", "/errors/insufficient-permissions"),
        (NODE, "/errors/authentication-failed", "/errors/insufficient-permissions"),
        (PYTHON_9, "/errors/unauthenticated", "/errors/unauthorized"),
    ],
)
def test_auth_failures(deployment: Deployment, agent, unauthenticated, forbidden) -> None:
    url, client = deployment.url("/entries/search"), deployment.client
    body = {"prompt": "x"}
    no_key = client.post(url, json=body, headers={"user-agent": agent})
    assert_error(no_key, 401, unauthenticated)
    bad_key = client.post(
        url, json=body, headers={"user-agent": agent, "Authorization": "Bearer x"}
    )
    assert_error(bad_key, 401, unauthenticated)
    _, other_key = deployment.new_cache()
    wrong_cache = client.post(
        url, json=body, headers={"user-agent": agent, **deployment.headers(other_key)}
    )
    assert_error(wrong_cache, 403, forbidden)
    admin = client.post(
        url, json=body, headers={"user-agent": agent, **deployment.headers(deployment.admin_key)}
    )
    assert_error(admin, 403, forbidden)


BAD_SEARCHES = [
    (b"{not json", "body"),
    (b"", "body"),
    (b"[]", "body"),
    (b'"prompt"', "body"),
    (b"{}", "prompt"),
    (b'{"prompt": 42}', "prompt"),
    (b'{"prompt": ""}', "prompt"),
    (b'{"prompt": "' + b"x" * 1025 + b'"}', "prompt"),
    (b'{"prompt": "x", "similarityThreshold": 1.5}', "similarityThreshold"),
    (b'{"prompt": "x", "similarityThreshold": -0.1}', "similarityThreshold"),
    (b'{"prompt": "x", "similarityThreshold": "0.9"}', "similarityThreshold"),
    (b'{"prompt": "x", "similarityThreshold": true}', "similarityThreshold"),
    (b'{"prompt": "x", "searchStrategies": ["fuzzy"]}', "searchStrategies.0"),
    (b'{"prompt": "x", "searchStrategies": "exact"}', "searchStrategies"),
    (b'{"prompt": "x", "searchStrategies": []}', "searchStrategies"),
    (b'{"prompt": "x", "maxResults": 0}', "maxResults"),
    (b'{"prompt": "x", "maxResults": 1000}', "maxResults"),
    (b'{"prompt": "x", "maxResults": 2.5}', "maxResults"),
    (b'{"prompt": "x", "attributes": {"a": 1}}', "attributes.a"),
    (b'{"prompt": "x", "attributes": ["a"]}', "attributes"),
    (b'{"prompt": "x", "attributes": {"a b": "c"}}', "attributes.a b"),
    (b'{"prompt": "x", "attributes": {"a": ""}}', "attributes.a"),
    (
        b'{"prompt": "x", "attributes": {"a":"1","b":"1","c":"1","d":"1","e":"1","f":"1"}}',
        "attributes",
    ),
]


@pytest.mark.parametrize(("body", "field"), BAD_SEARCHES)
def test_bad_searches_are_400_naming_the_field(
    deployment: Deployment, body: bytes, field: str
) -> None:
    response = deployment.client.post(
        deployment.url("/entries/search"), content=body, headers=deployment.headers()
    )
    error = assert_error(response, 400, "/errors/invalid-data")
    assert field in [f["field"] for f in error["fields"]]
    assert all(set(f) == {"field", "rule", "message"} for f in error["fields"])


BAD_SETS = [
    (b'{"prompt": "x"}', "response"),
    (b'{"response": "x"}', "prompt"),
    (b'{"prompt": "x", "response": 5}', "response"),
    (b'{"prompt": "x", "response": "y", "ttlMillis": 0}', "ttlMillis"),
    (b'{"prompt": "x", "response": "y", "ttlMillis": 1.5}', "ttlMillis"),
    (b'{"prompt": "x", "response": "y", "ttlMillis": "100"}', "ttlMillis"),
    (b'{"prompt": "x", "response": "y", "ttlMillis": 99999999999999}', "ttlMillis"),
]


@pytest.mark.parametrize(("body", "field"), BAD_SETS)
def test_bad_sets_are_400_naming_the_field(deployment: Deployment, body: bytes, field: str) -> None:
    response = deployment.client.post(
        deployment.url("/entries"), content=body, headers=deployment.headers()
    )
    error = assert_error(response, 400, "/errors/invalid-data")
    assert field in [f["field"] for f in error["fields"]]


@pytest.mark.parametrize(
    "entry_id", ["not-hex", "ABCDEF0123456789ABCDEF0123456789", "abc", "%3CentryId%3E"]
)
def test_malformed_entry_ids_are_400(deployment: Deployment, entry_id: str) -> None:
    response = deployment.client.delete(
        deployment.url(f"/entries/{entry_id}"), headers=deployment.headers()
    )
    assert_error(response, 400, "/errors/invalid-data")


def test_delete_by_empty_attributes_says_cannot_be_blank(deployment: Deployment) -> None:
    response = deployment.client.request(
        "DELETE", deployment.url("/entries"), json={"attributes": {}}, headers=deployment.headers()
    )
    assert assert_error(response, 400)["detail"] == "attributes: cannot be blank"


def test_attributes_on_a_cache_without_any_say_so(deployment: Deployment) -> None:
    cache_id, key = deployment.new_cache(attributes=[])
    response = deployment.client.post(
        deployment.url("/entries", cache_id),
        json={"prompt": "x", "response": "y", "attributes": {"lang": "en"}},
        headers=deployment.headers(key),
    )
    assert "no attributes are configured" in assert_error(response, 400)["detail"]


def test_oversized_bodies_are_413(deployment_factory) -> None:
    deployment = deployment_factory(max_body_bytes=1000)
    body = {"prompt": "x", "response": "y" * 2000}
    response = deployment.client.post(
        deployment.url("/entries"), json=body, headers=deployment.headers()
    )
    assert_error(response, 413, "/errors/payload-too-large")


def test_oversized_bodies_without_a_length_are_413(deployment_factory) -> None:
    deployment = deployment_factory(max_body_bytes=1000)

    def chunks():
        yield b'{"prompt": "x", "response": "'
        for _ in range(10):
            yield b"y" * 200
        yield b'"}'

    response = deployment.client.post(
        deployment.url("/entries"), content=chunks(), headers=deployment.headers()
    )
    assert_error(response, 413, "/errors/payload-too-large")


def test_unknown_paths_are_404_in_the_error_shape(deployment: Deployment) -> None:
    assert_error(deployment.client.get("/v2/nothing"), 404)
