"""What the cache service takes and gives back."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from semcache.store.base import Entry
from semcache.types import Millis

__all__ = [
    "DEFAULT_LIMITS",
    "UNSET",
    "Hit",
    "Limits",
    "NewEntry",
    "SearchQuery",
    "SearchResult",
    "Strategy",
    "Unset",
]


class Strategy(enum.StrEnum):
    """How a search looks for stored prompts."""

    EXACT = "exact"
    """The stored prompt equals the query, ignoring case."""
    SEMANTIC = "semantic"
    """The stored prompt's embedding is close enough to the query's."""


class Unset(enum.Enum):
    """Type of `UNSET`."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset.UNSET
"""A value the caller did not give, as distinct from ``None``: an entry whose ``ttl_millis``
is UNSET takes the cache's default TTL, whereas ``None`` would mean "never expire"."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits on requests; the defaults are the managed LangCache service's."""

    max_prompt_length: int = 1024
    max_attributes: int = 5
    max_attribute_name_length: int = 32
    max_attribute_value_length: int = 500
    max_ttl_millis: Millis = 31_556_952_000
    max_results: int = 100
    max_context_items: int = 50


DEFAULT_LIMITS: Final = Limits()


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A search request, before defaults are applied.

    ``threshold`` of ``None`` takes the cache's threshold; ``context`` is the earlier
    questions of a conversation, oldest first.
    """

    prompt: str
    strategies: tuple[Strategy, ...] = (Strategy.SEMANTIC,)
    threshold: float | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    max_results: int = 1
    context: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Hit:
    """A stored entry that answers a search, how similar it is (0 to 1) and how it was found."""

    entry: Entry
    similarity: float
    strategy: Strategy


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The hits of a search, best first, and the prompt actually searched."""

    hits: list[Hit]
    searched_prompt: str


@dataclass(frozen=True, slots=True)
class NewEntry:
    """A prompt and response to store."""

    prompt: str
    response: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    ttl_millis: Millis | Unset | None = UNSET
