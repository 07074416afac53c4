"""The rules a request must follow, checked before anything is stored or searched."""

from __future__ import annotations

import re
from collections.abc import Mapping

from semcache.core.models import Limits
from semcache.errors import InvalidRequest
from semcache.store.base import CacheConfig

__all__ = [
    "check_attributes",
    "check_max_results",
    "check_prompt",
    "check_text",
    "check_threshold",
    "check_ttl",
]

_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_-]+")


def check_text(text: str, field: str) -> None:
    """No U+0000: PostgreSQL cannot store it, so no store accepts it."""
    if "\x00" in text:
        raise InvalidRequest.for_field(field, "pattern", "cannot contain the character U+0000")


def check_prompt(prompt: str, limits: Limits, *, field: str = "prompt") -> None:
    if not prompt.strip():
        raise InvalidRequest.for_field(field, "required", "cannot be blank")
    check_text(prompt, field)
    if len(prompt) > limits.max_prompt_length:
        raise InvalidRequest.for_field(
            field, "max_length", f"must be at most {limits.max_prompt_length} characters"
        )


def check_threshold(threshold: float | None) -> None:
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise InvalidRequest.for_field(
            "similarityThreshold", "range", f"must be between 0 and 1, got {threshold}"
        )


def check_max_results(max_results: int, limits: Limits) -> None:
    if not 1 <= max_results <= limits.max_results:
        raise InvalidRequest.for_field(
            "maxResults", "range", f"must be between 1 and {limits.max_results}, got {max_results}"
        )


def check_ttl(ttl_millis: int, limits: Limits) -> None:
    if not 1 <= ttl_millis <= limits.max_ttl_millis:
        raise InvalidRequest.for_field(
            "ttlMillis",
            "range",
            f"must be between 1 and {limits.max_ttl_millis} milliseconds, got {ttl_millis}",
        )


def check_attributes(attributes: Mapping[str, str], cache: CacheConfig, limits: Limits) -> None:
    """Names must be well formed and declared by the cache; values non-empty and short."""
    if not attributes:
        return
    if cache.attributes is not None and not cache.attributes:
        raise InvalidRequest.for_field(
            "attributes", "not_configured", "no attributes are configured for this cache"
        )
    if len(attributes) > limits.max_attributes:
        raise InvalidRequest.for_field(
            "attributes", "max_items", f"at most {limits.max_attributes} attributes are allowed"
        )
    for name, value in attributes.items():
        _check_attribute(name, value, cache, limits)


def _check_attribute(name: str, value: str, cache: CacheConfig, limits: Limits) -> None:
    field = f"attributes.{name}"
    if not _ATTRIBUTE_NAME.fullmatch(name) or len(name) > limits.max_attribute_name_length:
        raise InvalidRequest.for_field(
            field,
            "pattern",
            f"attribute names are 1 to {limits.max_attribute_name_length} letters, digits, "
            f"'_' or '-'; got {name!r}",
        )
    if cache.attributes is not None and name not in cache.attributes:
        declared = ", ".join(cache.attributes)
        raise InvalidRequest.for_field(
            field, "undeclared", f"attribute {name!r} is not declared for this cache ({declared})"
        )
    if not value:
        raise InvalidRequest.for_field(field, "required", "cannot be blank")
    check_text(value, field)
    if len(value) > limits.max_attribute_value_length:
        raise InvalidRequest.for_field(
            field,
            "max_length",
            f"must be at most {limits.max_attribute_value_length} characters",
        )
