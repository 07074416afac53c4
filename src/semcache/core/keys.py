"""API keys: made here, shown once, stored only as salted HMAC digests.

A key reads ``sc_<id>_<secret>``. The ID finds the record; the secret is checked against
its digest in constant time. A key belongs to one cache, or is an admin key (no cache).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from semcache.core.ratelimit import RateLimiter
from semcache.errors import AuthenticationFailed, CacheNotFound, KeyNotFound, PermissionDenied
from semcache.store.base import CacheConfig, KeyRecord, Store
from semcache.types import CacheId, Millis

__all__ = ["IssuedKey", "KeyService", "digest_secret"]

_KEY = re.compile(r"sc_([0-9a-f]{16})_([0-9a-f]{64})")
_DUMMY_SALT = bytes(16)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key just made: ``secret`` is the whole key, which is shown this once."""

    record: KeyRecord
    secret: str


def digest_secret(salt: bytes, secret: str) -> bytes:
    return hmac.new(salt, secret.encode(), hashlib.sha256).digest()


class KeyService:
    """Issues, checks and revokes API keys; with a ``limiter``, every request made with a
    valid key is counted against that key's rate limit."""

    def __init__(
        self, store: Store, *, clock: Callable[[], Millis], limiter: RateLimiter | None = None
    ) -> None:
        self.store = store
        self.clock = clock
        self.limiter = limiter

    async def issue(self, cache_id: CacheId | None, *, label: str = "") -> IssuedKey:
        """Make a key for a cache, or an admin key when ``cache_id`` is None."""
        if cache_id is not None and await self.store.get_cache(cache_id) is None:
            raise CacheNotFound(cache_id)
        key_id, secret = secrets.token_hex(8), secrets.token_hex(32)
        salt = secrets.token_bytes(16)
        record = KeyRecord(
            id=key_id,
            cache_id=cache_id,
            salt=salt,
            digest=digest_secret(salt, secret),
            label=label,
            created_at=self.clock(),
        )
        await self.store.put_key(record)
        return IssuedKey(record, f"sc_{key_id}_{secret}")

    async def revoke(self, key_id: str) -> None:
        if not await self.store.revoke_key(key_id, at=self.clock()):
            raise KeyNotFound(key_id)

    async def authenticate(self, authorization: str | None) -> KeyRecord:
        """The live key record behind an ``Authorization`` header value.

        Raises `AuthenticationFailed` for a missing, malformed, unknown or revoked key, and
        `TooManyRequests` when the key is over its rate limit.
        """
        if not authorization:
            raise AuthenticationFailed("missing API key: send 'Authorization: Bearer <key>'")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed("malformed Authorization header: use 'Bearer <key>'")
        match = _KEY.fullmatch(token.strip())
        if match is None:
            raise AuthenticationFailed("invalid API key")
        key_id, secret = match.groups()
        record = await self.store.get_key(key_id)
        # Compare even when the ID is unknown, so timing does not tell which IDs exist.
        salt, digest = (record.salt, record.digest) if record else (_DUMMY_SALT, b"")
        valid = hmac.compare_digest(digest_secret(salt, secret), digest)
        if record is None or not valid or record.revoked_at is not None:
            raise AuthenticationFailed("invalid API key")
        if self.limiter is not None:
            self.limiter.acquire(record.id)
        return record

    async def authorize_cache(self, authorization: str | None, cache_id: CacheId) -> CacheConfig:
        """The cache a data request addresses, once its key is known to belong to it."""
        record = await self.authenticate(authorization)
        if record.cache_id != cache_id:
            raise PermissionDenied("this API key does not give access to this cache")
        cache = await self.store.get_cache(cache_id)
        if cache is None:
            raise CacheNotFound(cache_id)
        return cache

    async def authorize_admin(self, authorization: str | None) -> KeyRecord:
        record = await self.authenticate(authorization)
        if record.cache_id is not None:
            raise PermissionDenied("this operation needs an admin key")
        return record
