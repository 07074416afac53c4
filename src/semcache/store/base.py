"""The `Store` protocol and the records every store reads and writes.

A store keeps caches, hashed API keys and entries durably, finds entries by exact prompt and
by vector, and never returns an expired or deleted entry. It knows nothing of HTTP or of how
vectors are made: the cache service (``semcache.core``) hands it finished records.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from semcache.types import Attributes, CacheId, EntryId, Millis, Vector

__all__ = [
    "CacheConfig",
    "Entry",
    "EntryCursor",
    "KeyRecord",
    "Match",
    "StatsBucket",
    "Store",
    "exact_key",
    "matches_attributes",
]


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """A cache and its settings.

    ``attributes`` lists the attribute names the cache accepts, or is ``None`` when it
    accepts any. ``similarity_threshold`` of ``None`` means the embedder's calibrated
    default; ``ttl_millis`` of ``None`` means entries never expire unless a request says so.
    """

    id: CacheId
    name: str
    embedder: str
    created_at: Millis
    attributes: tuple[str, ...] | None = None
    similarity_threshold: float | None = None
    ttl_millis: Millis | None = None
    options: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        data = dataclasses.asdict(self)
        data["attributes"] = None if self.attributes is None else list(self.attributes)
        data["options"] = dict(self.options)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> CacheConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        attributes = values.get("attributes")
        if isinstance(attributes, list | tuple):
            values["attributes"] = tuple(attributes)
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A stored API key: only its salted digest is kept, never the secret.

    ``cache_id`` is ``None`` for an admin key.
    """

    id: str
    cache_id: CacheId | None
    salt: bytes
    digest: bytes
    label: str
    created_at: Millis
    revoked_at: Millis | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """A cached prompt and its response.

    ``vector`` is the unit-length embedding of ``prompt``: required by `Store.put`, and
    left out (``None``) by the reads, which have no use for it.
    """

    cache_id: CacheId
    id: EntryId
    prompt: str
    response: str
    attributes: Attributes
    created_at: Millis
    expires_at: Millis | None = None
    vector: Vector | None = field(default=None, compare=False, repr=False)

    def is_live(self, now: Millis) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True, slots=True)
class Match:
    """An entry found by vector search, with its cosine similarity to the query (-1 to 1)."""

    entry: Entry
    similarity: float


EntryCursor = tuple[Millis, EntryId]
"""Where a page of `Store.list_entries` ends: the last entry's ``(created_at, id)``."""


@dataclass(frozen=True, slots=True)
class StatsBucket:
    """What the searches of one cache added up to in one minute.

    Every field but ``items`` is a count or a sum, so buckets recorded by several processes
    add up. ``minute`` is the start of the minute in milliseconds since the epoch (a multiple
    of 60,000). ``latency_counts`` and ``similarity_counts`` are histograms: how many
    searches fell in each bucket, in an order the caller fixes. ``items`` is the cache's
    entry count as sampled during the minute, or None when nobody sampled it.
    """

    cache_id: CacheId
    minute: Millis
    searches: int = 0
    hits: int = 0
    latency_ms_sum: float = 0.0
    latency_counts: tuple[int, ...] = ()
    similarity_counts: tuple[int, ...] = ()
    items: int | None = None


def exact_key(prompt: str) -> str:
    """The form under which prompts are compared by the exact strategy (case-insensitive)."""
    return prompt.casefold()


def matches_attributes(entry_attributes: Attributes, wanted: Attributes) -> bool:
    """True when the entry carries every wanted name with exactly the wanted value."""
    return all(entry_attributes.get(name) == value for name, value in wanted.items())


@runtime_checkable
class Store(Protocol):
    """Durable storage for caches, keys and entries.

    Every method is a coroutine. Times are milliseconds since the epoch and are passed in,
    so that expiry is decided by the caller's clock. An entry is *live* at ``now`` when its
    ``expires_at`` is ``None`` or later than ``now``; no read, count or delete-count ever
    includes an entry that is not live. An acknowledged write survives a crash of the
    process.

    Example::

        store = await open_store("sqlite:///var/lib/semcache")
        await store.put(entry)
        matches = await store.search(cache_id, vector, attributes={}, now=now, limit=1)
        await store.close()
    """

    # caches

    async def create_cache(self, config: CacheConfig, *, if_no_caches: bool = False) -> bool:
        """Create a cache. Returns False, changing nothing, if the ID is taken.

        With ``if_no_caches``, also returns False, changing nothing, if the store holds any
        cache at all. The check and the creation are one step for every process using the
        store: of several servers starting at once on an empty store, exactly one creates
        its first cache.
        """
        ...

    async def get_cache(self, cache_id: CacheId) -> CacheConfig | None:
        """The cache with this ID, or None."""
        ...

    async def list_caches(self) -> list[CacheConfig]:
        """Every cache, oldest first."""
        ...

    async def delete_cache(self, cache_id: CacheId) -> bool:
        """Delete a cache with its entries and keys. Returns False if there was none."""
        ...

    # keys

    async def put_key(self, key: KeyRecord) -> None:
        """Store a new key record (IDs are unique; a second put of one ID replaces it)."""
        ...

    async def get_key(self, key_id: str) -> KeyRecord | None:
        """The key record with this ID, revoked or not, or None."""
        ...

    async def list_keys(self, cache_id: CacheId | None = None) -> list[KeyRecord]:
        """Keys of one cache, or every key (admin keys too) when ``cache_id`` is None."""
        ...

    async def revoke_key(self, key_id: str, *, at: Millis) -> bool:
        """Mark a key revoked. Returns False if there is no such key or it was revoked."""
        ...

    # entries

    async def put(self, entry: Entry) -> None:
        """Insert or replace the entry with this (cache ID, entry ID). Needs ``vector``."""
        ...

    async def get(self, cache_id: CacheId, entry_id: EntryId, *, now: Millis) -> Entry | None:
        """The live entry with this ID, or None."""
        ...

    async def find_exact(
        self, cache_id: CacheId, prompt: str, *, attributes: Attributes, now: Millis, limit: int
    ) -> list[Entry]:
        """Live entries whose prompt equals ``prompt`` under `exact_key`, carrying all the
        given attributes; at most ``limit``, newest first. Uses an index, not a scan."""
        ...

    async def search(
        self,
        cache_id: CacheId,
        vector: Vector,
        *,
        attributes: Attributes,
        now: Millis,
        limit: int,
    ) -> list[Match]:
        """The live entries nearest to ``vector`` by cosine similarity, best first, at most
        ``limit``, each carrying all the given attributes. Large caches may answer from an
        approximate index; a selective attribute filter must not cost recall."""
        ...

    async def delete(self, cache_id: CacheId, entry_id: EntryId, *, now: Millis) -> bool:
        """Delete an entry. Returns True only if a live entry was deleted."""
        ...

    async def delete_matching(
        self, cache_id: CacheId, attributes: Attributes, *, now: Millis
    ) -> int:
        """Delete every entry carrying all the given attributes (``attributes`` is not
        empty); returns how many of them were live."""
        ...

    async def clear(self, cache_id: CacheId) -> int:
        """Delete every entry of the cache; returns how many there were."""
        ...

    async def count(self, cache_id: CacheId, *, now: Millis) -> int:
        """How many live entries the cache holds."""
        ...

    async def list_entries(
        self, cache_id: CacheId, *, now: Millis, limit: int, after: EntryCursor | None = None
    ) -> list[Entry]:
        """Live entries of the cache, newest first: by ``created_at``, then ``id``, both
        descending; at most ``limit``. With ``after``, only the entries that come after that
        ``(created_at, id)`` in this order, so that pages never repeat or skip an entry
        that stays put. Uses an index, not a sort of the whole cache."""
        ...

    async def purge_expired(self, *, now: Millis, limit: int = 10_000) -> int:
        """Reclaim up to ``limit`` expired entries of any cache; returns how many."""
        ...

    # statistics

    async def record_stats(self, buckets: Sequence[StatsBucket]) -> None:
        """Add each bucket to the stored bucket of the same cache and minute, creating it.

        Counts and sums add up; histograms add up element by element (the shorter padded
        with zeros); ``items`` keeps the larger sample. Each bucket is added exactly once,
        atomically, even when several processes record the same minute at once. Buckets of
        a cache that does not exist are dropped.
        """
        ...

    async def read_stats(self, cache_id: CacheId, *, since: Millis) -> list[StatsBucket]:
        """The cache's stored buckets whose minute starts at or after ``since``, oldest
        first. A deleted cache's buckets are gone with it."""
        ...

    async def prune_stats(self, *, before: Millis) -> int:
        """Delete the buckets of every cache whose minute starts before ``before``;
        returns how many."""
        ...

    async def close(self) -> None:
        """Flush what must be flushed and release every resource. Idempotent."""
        ...
