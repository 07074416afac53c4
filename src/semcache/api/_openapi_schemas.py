"""The schemas of the OpenAPI document: request bodies from the pydantic models narrowed by
the limits, and the response and error bodies the handlers write."""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from semcache.api.errors import error_title, error_types
from semcache.api.schemas import (
    CacheCreateBody,
    ConversationalSearchBody,
    DeleteQueryBody,
    ExplainBody,
    KeyCreateBody,
    SearchBody,
    SetBody,
)
from semcache.core.models import Limits

__all__ = ["ERROR_STATUSES", "components", "path_parameter", "request_body"]

ERROR_STATUSES = (400, 401, 403, 404, 405, 409, 413, 424, 429, 500, 503)
"""Every status an error body may carry."""

_REF = "#/components/schemas/{model}"
_ATTRIBUTE_NAME = r"^[A-Za-z0-9_-]{1,%d}$"

_PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "cache_id": {"type": "string", "pattern": "^[A-Za-z0-9]{1,64}$"},
    "entry_id": {"type": "string", "pattern": "^[a-f0-9]{32}$"},
    "key_id": {"type": "string", "pattern": "^[a-f0-9]{16}$"},
}

_REQUESTS: dict[type[BaseModel], str] = {
    SearchBody: "SearchRequest",
    ConversationalSearchBody: "ConversationalSearchRequest",
    SetBody: "SetRequest",
    DeleteQueryBody: "DeleteQueryRequest",
    CacheCreateBody: "CacheCreateRequest",
    KeyCreateBody: "KeyCreateRequest",
    ExplainBody: "ExplainRequest",
}


def components(
    limits: Limits, *, embedders: Sequence[str] = (), verifiers: Sequence[str] = ()
) -> dict[str, Any]:
    """``components`` of the document: schemas, error responses and the bearer scheme."""
    registry: dict[str, Any] = {**_response_schemas(), "FieldError": _FIELD_ERROR}
    narrowing = _narrowing(limits, embedders, verifiers)
    for model, name in _REQUESTS.items():
        registry[name] = _model_schema(model, registry, narrowing.get(model, {}))
    return {
        "schemas": registry,
        "responses": {f"Error{status}": _error_response(status) for status in ERROR_STATUSES},
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key: a cache's own key on /v1/caches, an admin key on "
                "/admin/v1",
            }
        },
    }


def request_body(model: type[BaseModel], registry: dict[str, Any]) -> dict[str, Any]:
    """A reference to the schema of a request body, registering it if it is new."""
    name = _REQUESTS.get(model, model.__name__)
    if name not in registry:
        registry[name] = _model_schema(model, registry, {})
    return {"$ref": _REF.format(model=name)}


def path_parameter(name: str, raw_name: str) -> dict[str, Any]:
    """A path parameter, named as on the wire (``cacheId``)."""
    schema = _PATH_PARAMETERS.get(raw_name, {"type": "string"})
    return {"name": name, "in": "path", "required": True, "schema": dict(schema)}


def _model_schema(
    model: type[BaseModel], registry: dict[str, Any], narrowing: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    schema: dict[str, Any] = model.model_json_schema(by_alias=True, ref_template=_REF)
    for name, definition in schema.pop("$defs", {}).items():
        registry.setdefault(name, _untitled(definition))
    schema = dict(_untitled(schema))
    for field, extra in narrowing.items():
        if field in schema["properties"]:
            schema["properties"][field] = _narrow(schema["properties"][field], extra)
    return schema


def _narrow(schema: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Add constraints to a property; an optional one keeps accepting ``null``."""
    if "anyOf" in schema:
        branches = [b if b.get("type") == "null" else {**b, **extra} for b in schema["anyOf"]]
        return {**schema, "anyOf": branches}
    return {**schema, **extra}


def _untitled(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _untitled(v) for k, v in schema.items() if k not in ("title", "default")}
    if isinstance(schema, list):
        return [_untitled(item) for item in schema]
    return schema


_NO_NUL = "^[^\\u0000]*$"


@functools.cache
def _not_blank() -> str:
    """A pattern of texts without U+0000 that have a character `str.strip` keeps: the
    service refuses a prompt made only of the others. Spelt out, as ``\\s`` means other
    characters in JSON Schema."""
    spaces = [c for c in range(0x10000) if chr(c).isspace()]  # none lie beyond the BMP
    ranges: list[list[int]] = []
    for code in spaces:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    parts = [f"\\u{a:04x}" + (f"-\\u{b:04x}" if b > a else "") for a, b in ranges]
    return f"^[^\\u0000]*[^\\u0000{''.join(parts)}][^\\u0000]*$"


def _prompt(limits: Limits) -> dict[str, Any]:
    return {"minLength": 1, "maxLength": limits.max_prompt_length, "pattern": _not_blank()}


def _attributes(limits: Limits) -> dict[str, Any]:
    return {
        "maxProperties": limits.max_attributes,
        "propertyNames": {"pattern": _ATTRIBUTE_NAME % limits.max_attribute_name_length},
        "additionalProperties": {
            "type": "string",
            "minLength": 1,
            "maxLength": limits.max_attribute_value_length,
            "pattern": _NO_NUL,
        },
    }


def _narrowing(
    limits: Limits, embedders: Sequence[str], verifiers: Sequence[str]
) -> dict[type[BaseModel], Any]:
    """The rules of `semcache.core.rules` and `semcache.core.admin`, as JSON Schema."""
    threshold = {"minimum": 0, "maximum": 1}
    ttl = {"minimum": 1, "maximum": limits.max_ttl_millis}
    search = {
        "prompt": _prompt(limits),
        "similarityThreshold": threshold,
        "searchStrategies": {"minItems": 1},
        "attributes": _attributes(limits),
        "maxResults": {"minimum": 1, "maximum": limits.max_results},
    }
    context = {
        "maxItems": limits.max_context_items,
        "items": {"type": "string", **_prompt(limits)},
    }
    embedder: list[dict[str, Any]] = [{"type": "string", "pattern": "^openai:[^@]+@https?://"}]
    if embedders:
        embedder.insert(0, {"type": "string", "enum": list(embedders)})
    name_pattern = _ATTRIBUTE_NAME % limits.max_attribute_name_length
    return {
        SearchBody: search,
        ConversationalSearchBody: {**search, "context": context},
        ExplainBody: search,
        SetBody: {
            "prompt": _prompt(limits),
            "response": {"pattern": _NO_NUL},
            "attributes": _attributes(limits),
            "ttlMillis": ttl,
        },
        DeleteQueryBody: {"attributes": {**_attributes(limits), "minProperties": 1}},
        CacheCreateBody: {
            "id": {"pattern": "^[A-Za-z0-9]{1,64}$"},
            "attributes": {
                "maxItems": limits.max_attributes,
                "uniqueItems": True,
                "items": {"type": "string", "pattern": name_pattern},
            },
            "similarityThreshold": threshold,
            "ttlMillis": ttl,
            "embedder": {"anyOf": embedder},
            **({"verifier": {"enum": list(verifiers)}} if verifiers else {}),
        },
    }


def _closed(properties: dict[str, Any], *optional: str) -> dict[str, Any]:
    required = [name for name in properties if name not in optional]
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


_STRING = {"type": "string"}
_MILLIS = {"type": "integer", "minimum": 0}
_FIELD_ERROR = _closed({"field": _STRING, "rule": _STRING, "message": _STRING})


def _response_schemas() -> dict[str, Any]:
    hits = {"type": "array", "items": _ref("CacheEntry")}
    entry = _closed(
        {
            "id": {"type": "string", "pattern": "^[a-f0-9]{32}$"},
            "prompt": _STRING,
            "response": _STRING,
            "attributes": {"type": "object", "additionalProperties": _STRING},
            "similarity": {"type": "number", "minimum": 0, "maximum": 1},
            "searchStrategy": {"type": "string", "enum": ["exact", "semantic"]},
        }
    )
    key: dict[str, Any] = {
        "type": "object",
        "properties": {
            "keyId": {"type": "string", "pattern": "^[a-f0-9]{16}$"},
            "cacheId": {"type": ["string", "null"]},
            "label": _STRING,
            "createdAt": _MILLIS,
            "revokedAt": {"type": ["integer", "null"]},
        },
        "required": ["keyId", "cacheId", "label", "createdAt", "revokedAt"],
    }
    new_key = copy.deepcopy(key)
    secret = {"type": "string", "pattern": "^sc_[0-9a-f]{16}_[0-9a-f]{64}$"}
    new_key["properties"]["apiKey"] = secret
    new_key["required"].append("apiKey")
    cache = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "name": _STRING,
            "attributes": {"type": ["array", "null"], "items": _STRING},
            "similarityThreshold": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
            "ttlMillis": {"type": ["integer", "null"], "minimum": 1},
            "embedder": _STRING,
            "createdAt": _MILLIS,
            "entries": {"type": "integer", "minimum": 0},
        },
        "required": ["id", "name", "attributes", "similarityThreshold", "ttlMillis", "embedder"],
    }
    return {
        "CacheEntry": entry,
        "SearchResponse": _closed({"data": hits}),
        "ConversationalSearchResponse": _closed({"actualPrompt": _STRING, "data": hits}),
        "SetResponse": _closed({"entryId": {"type": "string", "pattern": "^[a-f0-9]{32}$"}}),
        "DeleteQueryResponse": _closed({"deletedEntriesCount": {"type": "integer", "minimum": 0}}),
        "Cache": cache,
        "CacheList": _closed({"caches": {"type": "array", "items": _ref("Cache")}}),
        "Key": key,
        "NewKey": new_key,
        "KeyList": _closed({"keys": {"type": "array", "items": _ref("Key")}}),
        **_inspection_schemas(),
        "Health": {"type": "object", "properties": {"status": _STRING}, "required": ["status"]},
        "OpenAPIDocument": {"type": "object", "required": ["openapi", "paths"]},
    }


def _inspection_schemas() -> dict[str, Any]:
    """The bodies of the admin API's statistics, entries and explained searches: the fields
    a client may rely on; more may come."""

    def some(*required: str) -> dict[str, Any]:
        return {"type": "object", "required": list(required)}

    summary = ["cacheId", "window", "since", "searches", "hits", "hitRatio", "items"]
    summary += ["avgLatencyMs", "p95LatencyMs"]
    return {
        "CacheStats": some(*summary, "threshold", "points", "similarity"),
        "StatsList": some("window", "caches"),
        "EntryPage": some("entries", "nextCursor"),
        "Explanation": some("decision", "threshold", "data", "candidates", "timings"),
    }


def _error_response(status: int) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "type": {"type": "string", "enum": error_types(status)},
        "title": _STRING,
        "status": {"type": "integer", "const": status},
        "detail": _STRING,
        "instance": _STRING,
    }
    if status == 400:
        properties["fields"] = {"type": "array", "items": _ref("FieldError"), "minItems": 1}
    response: dict[str, Any] = {
        "description": error_title(status),
        "content": {"application/json": {"schema": _closed(properties, "fields")}},
    }
    if status in (429, 503):
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before trying again",
                "required": True,
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
            }
        }
    if status == 405:
        response["headers"] = {
            "Allow": {"description": "The methods the path accepts", "schema": _STRING}
        }
    return response
