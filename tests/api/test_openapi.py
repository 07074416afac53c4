from __future__ import annotations

import re

import pytest
from starlette.routing import Route

from semcache.api.errors import error_types
from semcache.api.openapi import OPERATIONS
from semcache.api.schemas import (
    CacheCreateBody,
    ConversationalSearchBody,
    DeleteQueryBody,
    KeyCreateBody,
    SearchBody,
    SetBody,
)
from tests.api.conftest import Deployment

# The wire spec's endpoint table (LANGCACHE_WIRE.md §1.2): path, method, success status.
WIRE = {
    ("/v1/caches/{cacheId}/entries/search", "post"): 200,
    ("/v1/caches/{cacheId}/conversations/search", "post"): 200,
    ("/v1/caches/{cacheId}/entries", "post"): 201,
    ("/v1/caches/{cacheId}/entries/{entryId}", "delete"): 204,
    ("/v1/caches/{cacheId}/entries", "delete"): 200,
    ("/v1/caches/{cacheId}/flush", "post"): 204,
}


def document(deployment: Deployment) -> dict:
    response = deployment.client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return response.json()


def resolve(doc: dict, node: dict) -> dict:
    while "$ref" in node:
        *_, kind, name = node["$ref"].split("/")
        node = doc["components"][kind][name]
    return node


def test_every_route_is_in_the_document(deployment: Deployment) -> None:
    doc = document(deployment)
    routes = [r for r in deployment.client.app.routes if isinstance(r, Route)]  # type: ignore[attr-defined]
    assert len(routes) >= 15
    for route in routes:
        path = re.sub(r"{(\w+)(?::\w+)?}", lambda m: "{" + camel(m[1]) + "}", route.path)
        for method in route.methods or ():
            if method != "HEAD":
                assert method.lower() in doc["paths"].get(path, {}), (method, path)


def test_the_known_routes_are_described_in_full(deployment: Deployment) -> None:
    operations = document(deployment)["paths"].values()
    described = {op["operationId"] for ops in operations for op in ops.values()}
    assert described >= {op.operation_id for op in OPERATIONS.values()}
    for ops in operations:
        for op in ops.values():
            assert ("default" in op["responses"]) == (op["operationId"] not in described_ids())


def described_ids() -> set[str]:
    return {op.operation_id for op in OPERATIONS.values()}


def camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def test_the_data_api_is_the_wire_protocol(deployment: Deployment) -> None:
    doc = document(deployment)
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    assert doc["security"] == [{"bearerAuth": []}]
    data_paths = {(p, m) for p, ops in doc["paths"].items() if p.startswith("/v1/") for m in ops}
    assert data_paths == set(WIRE)
    for (path, method), status in WIRE.items():
        operation = doc["paths"][path][method]
        assert min(int(s) for s in operation["responses"]) == status
        for error in (401, 403, 413, 429, 503):
            assert str(error) in operation["responses"], (path, method, error)
    ids = {doc["paths"][p][m]["operationId"] for p, m in WIRE}
    assert ids == {"search", "ConversationalSearch", "set", "deleteById", "deleteQuery", "Flush"}


def test_bodies_are_the_wire_bodies(deployment: Deployment) -> None:
    doc = document(deployment)
    schemas = doc["components"]["schemas"]
    entry = schemas["CacheEntry"]
    assert set(entry["required"]) == {
        "id",
        "prompt",
        "response",
        "attributes",
        "similarity",
        "searchStrategy",
    }
    assert entry["properties"]["searchStrategy"]["enum"] == ["exact", "semantic"]
    assert schemas["SearchResponse"]["required"] == ["data"]
    assert schemas["ConversationalSearchResponse"]["required"] == ["actualPrompt", "data"]
    assert schemas["SetResponse"]["required"] == ["entryId"]
    assert schemas["DeleteQueryResponse"]["required"] == ["deletedEntriesCount"]
    assert schemas["SearchRequest"]["required"] == ["prompt"]
    assert schemas["SetRequest"]["required"] == ["prompt", "response"]
    assert schemas["DeleteQueryRequest"]["required"] == ["attributes"]


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("SearchRequest", SearchBody),
        ("ConversationalSearchRequest", ConversationalSearchBody),
        ("SetRequest", SetBody),
        ("DeleteQueryRequest", DeleteQueryBody),
        ("CacheCreateRequest", CacheCreateBody),
        ("KeyCreateRequest", KeyCreateBody),
    ],
)
def test_request_bodies_follow_the_models(deployment: Deployment, name: str, model) -> None:
    schema = document(deployment)["components"]["schemas"][name]
    aliases = {field.alias or field_name for field_name, field in model.model_fields.items()}
    assert set(schema["properties"]) == aliases


def test_error_bodies_are_documented_for_every_client(deployment: Deployment) -> None:
    doc = document(deployment)
    for status in (400, 401, 403, 404, 413, 424, 429, 500, 503):
        response = doc["components"]["responses"][f"Error{status}"]
        schema = resolve(doc, response["content"]["application/json"]["schema"])
        assert set(schema["required"]) == {"type", "title", "status", "detail", "instance"}
        assert schema["properties"]["type"]["enum"] == error_types(status)
        assert ("fields" in schema["properties"]) == (status == 400)
        if status in (429, 503):
            assert response["headers"]["Retry-After"]["required"] is True
    assert "/errors/cache/entry/not-found" in error_types(404)
    assert "/errors/resource-not-found" in error_types(404)


def test_the_limits_shape_the_document(deployment_factory) -> None:
    deployment = deployment_factory(max_prompt_length=50, max_attributes=2, max_results=7)
    schemas = document(deployment)["components"]["schemas"]
    search = schemas["SearchRequest"]["properties"]
    assert search["prompt"]["maxLength"] == 50
    assert search["maxResults"]["anyOf"][0]["maximum"] == 7
    assert search["attributes"]["anyOf"][0]["maxProperties"] == 2


def test_without_the_admin_api_its_routes_are_gone(deployment_factory) -> None:
    deployment = deployment_factory(admin_api=False)
    assert not [p for p in document(deployment)["paths"] if p.startswith("/admin/")]
    admin = deployment.headers(deployment.admin_key)
    assert deployment.client.get("/admin/v1/caches", headers=admin).status_code == 404


def test_a_wrong_method_names_every_allowed_one(deployment: Deployment) -> None:
    both = deployment.client.put(deployment.url("/entries"), headers=deployment.headers())
    assert both.status_code == 405 and both.headers["allow"] == "DELETE, POST"
    search = deployment.client.delete(deployment.url("/entries/search"))
    assert search.status_code == 405 and search.headers["allow"] == "POST"
    assert search.json()["status"] == 405
