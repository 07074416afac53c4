"""Every error semcache raises.

    SemcacheError
    ├── ConfigError                 bad settings; stops start-up
    ├── StoreError                  the store failed (424 on the wire)
    │   └── StoreUnavailable        cannot reach or open the store
    ├── EmbeddingError              the embedder failed (424 on the wire)
    └── RequestError                the caller's fault, or a refusal (4xx)
        ├── InvalidRequest          400, with the offending fields
        ├── AuthenticationFailed    401
        ├── PermissionDenied        403
        ├── NotFound                404
        │   ├── CacheNotFound
        │   ├── EntryNotFound
        │   └── KeyNotFound
        ├── PayloadTooLarge         413
        ├── TooManyRequests         429
        └── Overloaded              503
            └── RequestTimedOut     the request took too long

An error that can reach HTTP carries its status as ``status_code``; ``api/errors.py``
is the one place that turns these into response bodies.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AuthenticationFailed",
    "CacheNotFound",
    "ConfigError",
    "EmbeddingError",
    "EntryNotFound",
    "FieldError",
    "InvalidRequest",
    "KeyNotFound",
    "NotFound",
    "Overloaded",
    "PayloadTooLarge",
    "PermissionDenied",
    "RequestError",
    "RequestTimedOut",
    "SemcacheError",
    "StoreError",
    "StoreUnavailable",
    "TooManyRequests",
]


class SemcacheError(Exception):
    """Root of every semcache error."""

    status_code = 500


class ConfigError(SemcacheError):
    """A setting is missing or malformed; the message names it."""


class StoreError(SemcacheError):
    """The store could not complete an operation."""

    status_code = 424


class StoreUnavailable(StoreError):
    """The store cannot be reached or opened."""


class EmbeddingError(SemcacheError):
    """The embedder could not turn text into vectors.

    ``reason`` is ``"unavailable"``, ``"unauthorized"`` (an outside model refused our
    credentials) or ``"rate-limited"``.
    """

    status_code = 424

    def __init__(self, message: str, *, reason: str = "unavailable") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid field of a request: ``rule`` is a short machine name."""

    field: str
    rule: str
    message: str


class RequestError(SemcacheError):
    """A request the server refuses; ``detail`` is shown to the caller."""

    status_code = 400
    title = "Invalid Request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidRequest(RequestError):
    """The request breaks a rule of the API; ``fields`` says which."""

    def __init__(self, detail: str, fields: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.fields = fields or []

    @classmethod
    def for_field(cls, field: str, rule: str, message: str) -> InvalidRequest:
        """Build the error for a single field, with ``"<field>: <message>"`` as detail."""
        return cls(f"{field}: {message}", [FieldError(field, rule, message)])


class AuthenticationFailed(RequestError):
    status_code = 401
    title = "Authentication Failed"


class PermissionDenied(RequestError):
    status_code = 403
    title = "Forbidden"


class NotFound(RequestError):
    status_code = 404
    title = "Not Found"


class CacheNotFound(NotFound):
    def __init__(self, cache_id: str) -> None:
        super().__init__(f"cache {cache_id!r} not found")
        self.cache_id = cache_id


class EntryNotFound(NotFound):
    def __init__(self, entry_id: str) -> None:
        super().__init__(f"entry {entry_id!r} not found")
        self.entry_id = entry_id


class KeyNotFound(NotFound):
    def __init__(self, key_id: str) -> None:
        super().__init__(f"key {key_id!r} not found")
        self.key_id = key_id


class PayloadTooLarge(RequestError):
    status_code = 413
    title = "Payload Too Large"


class TooManyRequests(RequestError):
    status_code = 429
    title = "Too Many Requests"

    def __init__(self, detail: str, retry_after_seconds: int = 1) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class Overloaded(RequestError):
    status_code = 503
    title = "Service Unavailable"

    def __init__(self, detail: str, retry_after_seconds: int = 1) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class RequestTimedOut(Overloaded):
    """The request took longer than the server allows; it was abandoned (a write may or may
    not have happened). A 503, so that clients configured to retry do so."""
