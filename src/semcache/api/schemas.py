"""Request and response bodies of the LangCache wire protocol and of the admin API.

Field names on the wire are camelCase. Requests are validated strictly (no coercion of
numbers from strings, no booleans for numbers); unknown fields are ignored, as newer
clients may send more than this server knows.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from starlette.responses import Response

from semcache.core.admin import CacheSpec, CacheSummary
from semcache.core.models import UNSET, Hit, NewEntry, SearchQuery, SearchResult, Strategy
from semcache.core.observer import SearchTrace, Stage
from semcache.core.stats import SIMILARITY_BOUNDS, CacheStats
from semcache.errors import FieldError, InvalidRequest
from semcache.store.base import CacheConfig, Entry, EntryCursor, KeyRecord

__all__ = [
    "CacheCreateBody",
    "ConversationalSearchBody",
    "DeleteQueryBody",
    "ExplainBody",
    "KeyCreateBody",
    "SearchBody",
    "SetBody",
    "cache_json",
    "entry_json",
    "explanation_json",
    "hit_json",
    "json_response",
    "key_json",
    "parse_body",
    "parse_cursor",
    "stats_json",
]

M = TypeVar("M", bound=BaseModel)


def _integral(value: object) -> object:
    # JSON has one kind of number: 5.0 is the integer 5 (JSON Schema agrees), 5.5 is not.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WireInt = Annotated[int, BeforeValidator(_integral)]


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", populate_by_name=True, frozen=True)


class SearchBody(_Body):
    prompt: str
    similarity_threshold: float | None = Field(None, alias="similarityThreshold")
    search_strategies: list[Strategy] | None = Field(None, alias="searchStrategies")
    attributes: dict[str, str] | None = None
    max_results: WireInt | None = Field(None, alias="maxResults")

    def to_query(self, context: tuple[str, ...] = ()) -> SearchQuery:
        strategies = self.search_strategies
        return SearchQuery(
            prompt=self.prompt,
            strategies=tuple(dict.fromkeys(strategies))
            if strategies is not None
            else (Strategy.SEMANTIC,),
            threshold=self.similarity_threshold,
            attributes=self.attributes or {},
            max_results=1 if self.max_results is None else self.max_results,
            context=context,
        )


class ConversationalSearchBody(SearchBody):
    context: list[str] | None = None

    def to_query(self, context: tuple[str, ...] = ()) -> SearchQuery:
        return super().to_query(tuple(self.context or ()))


class SetBody(_Body):
    prompt: str
    response: str
    attributes: dict[str, str] | None = None
    ttl_millis: WireInt | None = Field(None, alias="ttlMillis")

    def to_new_entry(self) -> NewEntry:
        return NewEntry(
            prompt=self.prompt,
            response=self.response,
            attributes=self.attributes or {},
            ttl_millis=UNSET if self.ttl_millis is None else self.ttl_millis,
        )


class DeleteQueryBody(_Body):
    attributes: dict[str, str]


class CacheCreateBody(_Body):
    id: str | None = None
    name: str = ""
    attributes: list[str] | None = None
    similarity_threshold: float | None = Field(None, alias="similarityThreshold")
    ttl_millis: WireInt | None = Field(None, alias="ttlMillis")
    embedder: str | None = None
    verifier: str | None = None

    def to_spec(self) -> CacheSpec:
        return CacheSpec(
            name=self.name,
            id=self.id,
            attributes=None if self.attributes is None else tuple(self.attributes),
            similarity_threshold=self.similarity_threshold,
            ttl_millis=self.ttl_millis,
            embedder=self.embedder,
            verifier=self.verifier,
        )


class KeyCreateBody(_Body):
    label: str = ""


class ExplainBody(SearchBody):
    """A search to explain, and how many semantic candidates to show (default 10)."""

    candidates: Annotated[int, Field(ge=0, le=100), BeforeValidator(_integral)] | None = None

    def shown(self) -> int:
        return DEFAULT_SHOWN_CANDIDATES if self.candidates is None else self.candidates


DEFAULT_SHOWN_CANDIDATES = 10


def parse_cursor(raw: str | None) -> EntryCursor | None:
    """The ``cursor`` of a page of entries, ``<createdAt>:<entryId>``; None for the first."""
    if raw is None:
        return None
    created_at, separator, entry_id = raw.partition(":")
    if not (separator and entry_id and created_at.lstrip("-").isdigit()):
        raise InvalidRequest.for_field("cursor", "format", "give the nextCursor of a page")
    return int(created_at), entry_id


def _entry_fields(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "prompt": entry.prompt,
        "response": entry.response,
        "attributes": dict(entry.attributes),
    }


def entry_json(entry: Entry) -> dict[str, Any]:
    """An entry as the admin API shows it (never its vector)."""
    return {**_entry_fields(entry), "createdAt": entry.created_at, "expiresAt": entry.expires_at}


def stats_json(
    stats: CacheStats, *, threshold: float | None = None, points: bool = True
) -> dict[str, Any]:
    """A cache's statistics; with ``points``, also the series, the similarity histogram and
    the ``threshold`` to draw on it."""
    data: dict[str, Any] = {
        "cacheId": stats.cache_id,
        "window": stats.window.label,
        "since": stats.since,
        "stepMillis": stats.window.step,
        "searches": stats.searches,
        "hits": stats.hits,
        "hitRatio": stats.hit_ratio,
        "avgLatencyMs": stats.avg_latency_ms,
        "p95LatencyMs": stats.p95_latency_ms,
        "items": stats.items,
    }
    if points:
        data["threshold"] = threshold
        data["points"] = [
            {
                "start": p.start,
                "searches": p.searches,
                "hits": p.hits,
                "hitRatio": p.hit_ratio,
                "avgLatencyMs": p.avg_latency_ms,
                "p95LatencyMs": p.p95_latency_ms,
                "items": p.items,
            }
            for p in stats.points
        ]
        data["similarity"] = {
            "bounds": list(SIMILARITY_BOUNDS),
            "counts": list(stats.similarity_counts) or [0] * len(SIMILARITY_BOUNDS),
        }
    return data


def explanation_json(result: SearchResult, trace: SearchTrace) -> dict[str, Any]:
    """An explained search: its answer, the threshold, each candidate and its decision,
    and the time each stage took."""
    seconds = trace.stage_seconds
    return {
        "decision": "hit" if result.hits else "miss",
        "threshold": trace.threshold,
        "searchedPrompt": result.searched_prompt,
        "data": [hit_json(hit) for hit in result.hits],
        "candidates": [
            {
                **_entry_fields(c.entry),
                "similarity": c.similarity,
                "cosine": c.cosine,
                "searchStrategy": c.strategy.value,
                "decision": c.decision.value,
            }
            for c in trace.candidates
        ],
        "timings": {
            "embeddingMs": seconds.get(Stage.EMBEDDING, 0.0) * 1000,
            "searchMs": seconds.get(Stage.SEARCH, 0.0) * 1000,
            "verificationMs": seconds.get(Stage.VERIFICATION, 0.0) * 1000,
            "totalMs": trace.seconds * 1000,
        },
    }


def parse_body(model: type[M], body: bytes) -> M:
    """Validate a JSON body; any fault becomes `InvalidRequest` naming the fields."""
    if not body.strip():
        raise InvalidRequest.for_field("body", "required", "a JSON object is required")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise _invalid_request(exc) from None


def _invalid_request(exc: ValidationError) -> InvalidRequest:
    fields = []
    for error in exc.errors(include_url=False):
        kind = error["type"]
        if kind == "json_invalid":
            return InvalidRequest.for_field("body", "json", f"malformed JSON: {error['msg']}")
        if kind == "model_type":
            return InvalidRequest.for_field("body", "type", "the body must be a JSON object")
        field = ".".join(str(part) for part in error["loc"]) or "body"
        fields.append(FieldError(field, _rule(kind), error["msg"]))
    detail = "; ".join(f"{f.field}: {f.message}" for f in fields)
    return InvalidRequest(detail, fields)


def _rule(pydantic_type: str) -> str:
    if pydantic_type == "missing":
        return "required"
    if pydantic_type in ("enum", "literal_error"):
        return "enum"
    return "type"


def hit_json(hit: Hit) -> dict[str, Any]:
    entry = hit.entry
    return {
        "id": entry.id,
        "prompt": entry.prompt,
        "response": entry.response,
        "attributes": dict(entry.attributes),
        "similarity": hit.similarity,
        "searchStrategy": hit.strategy.value,
    }


def cache_json(cache: CacheConfig, summary: CacheSummary | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": cache.id,
        "name": cache.name,
        "attributes": None if cache.attributes is None else list(cache.attributes),
        "similarityThreshold": cache.similarity_threshold,
        "ttlMillis": cache.ttl_millis,
        "embedder": cache.embedder,
        "verifier": cache.options.get("verifier"),
        "createdAt": cache.created_at,
    }
    if summary is not None:
        data["entries"] = summary.entries
    return data


def key_json(key: KeyRecord) -> dict[str, Any]:
    return {
        "keyId": key.id,
        "cacheId": key.cache_id,
        "label": key.label,
        "createdAt": key.created_at,
        "revokedAt": key.revoked_at,
    }


def json_response(data: object, status_code: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status_code, media_type="application/json")
