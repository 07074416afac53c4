"""Settings: one table of names, defaults and help, read from ``SEMCACHE_*`` variables.

Every setting ``name`` can be given as the environment variable ``SEMCACHE_<NAME>``, as
``semcache serve --setting name value``, or, for the common ones, as a flag of its own.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_type_hints

from semcache.core.models import Limits
from semcache.core.ratelimit import RateLimit
from semcache.embedding.batching import BatchOptions
from semcache.errors import ConfigError

__all__ = ["ENV_PREFIX", "Settings", "setting_names"]

ENV_PREFIX = "SEMCACHE_"


def _setting(default: Any, help: str, *, secret: bool = False) -> Any:
    return field(default=default, metadata={"help": help, "secret": secret})


@dataclass(frozen=True)
class Settings:
    """Everything the server and the CLI can be told. See `semcache serve --help-settings`."""

    data_dir: Path = _setting(Path("semcache-data"), "Directory holding the embedded store")
    store: str | None = _setting(
        None, "Store URL; the default is the SQLite store in data_dir (sqlite:///<data_dir>)"
    )
    host: str = _setting("127.0.0.1", "Address to listen on")
    port: int = _setting(8080, "Port to listen on")
    workers: int = _setting(1, "Server processes sharing the port")
    tls_cert: Path | None = _setting(None, "PEM certificate chain for HTTPS")
    tls_key: Path | None = _setting(None, "PEM private key for HTTPS")
    no_tls: bool = _setting(
        False,
        "Serve plain HTTP. Without it and without tls_cert, a local certificate authority "
        "and certificate are made in data_dir/tls",
    )
    embedder: str = _setting("all-MiniLM-L6-v2", "Embedder of new caches")
    verifier: str = _setting(
        "off",
        "Verifier of the caches that name none: a shipped verifier, or 'off' to decide hits "
        "by cosine similarity alone",
    )
    threads: int | None = _setting(
        None,
        "Threads each server process's local model may use (default: the cores shared out "
        "among the workers)",
    )
    one_core_when_alone: bool = _setting(
        True,
        "While requests come one at a time, run the threads that answer them on one core, "
        "which answers each sooner (Linux, one worker only)",
    )
    embedding_batch_size: int = _setting(64, "Most prompts the local model embeds in one call")
    embedding_batch_wait_ms: float = _setting(
        2.0,
        "Longest a model call waits to gather more concurrent prompts, in milliseconds "
        "(only while requests are concurrent; 0: never)",
    )
    embedding_queue_size: int = _setting(
        4096, "Most prompts waiting for the local model; beyond it requests get a 503"
    )
    embedding_cache_size: int = _setting(
        4096, "Recent prompts whose vectors each model remembers (0: none)"
    )
    max_body_bytes: int = _setting(1_048_576, "Largest request body accepted (413 beyond)")
    max_prompt_length: int = _setting(1024, "Longest prompt, in characters")
    max_attributes: int = _setting(5, "Most attributes an entry or filter may carry")
    max_attribute_value_length: int = _setting(500, "Longest attribute value, in characters")
    max_ttl_millis: int = _setting(31_556_952_000, "Longest ttlMillis (one year)")
    max_results: int = _setting(100, "Largest maxResults of a search")
    purge_interval_seconds: float = _setting(60.0, "How often expired entries are reclaimed")
    request_timeout_seconds: float = _setting(
        3.0, "Longest a request may take; beyond it the answer is a 503 (0: no limit)"
    )
    rate_limit_per_second: float = _setting(
        0.0,
        "Requests a second each API key may make, per server process; beyond it a 429 "
        "(0: no limit)",
    )
    rate_limit_burst: int = _setting(
        0, "Requests an API key may make at once before the rate applies (0: one second's worth)"
    )
    admin_api: bool = _setting(
        True, "Serve the admin API under /admin/v1 (off: manage caches and keys with the CLI)"
    )
    rewriter_url: str | None = _setting(
        None, "OpenAI-compatible base URL of a chat model for conversational search"
    )
    rewriter_model: str = _setting("gpt-4o-mini", "Chat model that rewrites follow-up questions")
    rewriter_api_key: str | None = _setting(None, "API key of the rewriting model", secret=True)
    openai_api_key: str | None = _setting(
        None, "API key for 'openai:<model>@<url>' embedders", secret=True
    )
    log_level: str = _setting("info", "Log level: debug, info, warning or error")
    log_format: str = _setting("text", "Log lines as plain text or as JSON objects: text or json")
    metrics: bool = _setting(True, "Count Prometheus metrics and serve them at /metrics")
    metrics_public: bool = _setting(
        False, "Serve /metrics without the admin key (it names caches and their traffic)"
    )
    stats_flush_seconds: float = _setting(
        5.0, "How often each process adds its per-cache statistics to the store"
    )

    @property
    def store_url(self) -> str:
        return self.store or f"sqlite:///{self.data_dir.resolve()}"

    @property
    def limits(self) -> Limits:
        return Limits(
            max_prompt_length=self.max_prompt_length,
            max_attributes=self.max_attributes,
            max_attribute_value_length=self.max_attribute_value_length,
            max_ttl_millis=self.max_ttl_millis,
            max_results=self.max_results,
        )

    @property
    def model_threads(self) -> int:
        """Threads of each worker's local model: ``threads``, else the cores shared out among
        the workers, so that workers do not crowd each other's cores."""
        return self.threads or max(1, (os.cpu_count() or 1) // max(1, self.workers))

    @property
    def stats_flush_every(self) -> float:
        """Seconds between additions of the statistics to the store."""
        if not self.stats_flush_seconds > 0:
            raise ConfigError(
                f"setting 'stats_flush_seconds' must be above 0, got {self.stats_flush_seconds}"
            )
        return self.stats_flush_seconds

    @property
    def rate_limit(self) -> RateLimit:
        """The per-key rate limit (off unless rate_limit_per_second is above 0)."""
        return RateLimit(per_second=self.rate_limit_per_second, burst=self.rate_limit_burst)

    @property
    def batching(self) -> BatchOptions:
        """How the local model gathers concurrent prompts into one call."""
        for name in ("embedding_batch_size", "embedding_queue_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"setting {name!r} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.embedding_batch_wait_ms <= 1000:
            raise ConfigError(
                "setting 'embedding_batch_wait_ms' must be in [0, 1000], "
                f"got {self.embedding_batch_wait_ms}"
            )
        return BatchOptions(
            max_batch=self.embedding_batch_size,
            max_wait=self.embedding_batch_wait_ms / 1000,
            max_queue=self.embedding_queue_size,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Defaults, then ``SEMCACHE_*`` variables, then ``overrides`` (None is ignored)."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name in setting_names():
            raw = environ.get(ENV_PREFIX + name.upper())
            if raw is not None:
                values[name] = parse_setting(name, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - set(setting_names())
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return cls(**values)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        shown = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            hidden = f.metadata["secret"] and value is not None
            shown.append(f"{f.name}={'***' if hidden else repr(value)}")
        return f"Settings({', '.join(shown)})"

    def to_env(self) -> dict[str, str]:
        """The ``SEMCACHE_*`` variables that reproduce these settings in another process."""
        env = {}
        for name in setting_names():
            value = getattr(self, name)
            if value is not None:
                env[ENV_PREFIX + name.upper()] = str(value)
        return env


def setting_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Settings)]


def setting_help() -> list[tuple[str, str, str]]:
    """(name, default, help) for each setting, for ``--help-settings`` and the docs."""
    rows = []
    for f in dataclasses.fields(Settings):
        rows.append((f.name, "" if f.default is None else str(f.default), f.metadata["help"]))
    return rows


def parse_setting(name: str, raw: str) -> object:
    """Turn the text of a setting into its type; a bad value names the setting."""
    hint = get_type_hints(Settings)[name]
    kinds = [kind for kind in get_args(hint) or (hint,) if kind is not type(None)]
    optional = len(kinds) < len(get_args(hint))
    kind = kinds[0]
    if raw == "" and optional:
        return None
    try:
        return _parse_bool(raw) if kind is bool else kind(raw)
    except ValueError:
        raise ConfigError(
            f"setting {name!r} (${ENV_PREFIX}{name.upper()}): "
            f"cannot read {raw!r} as {kind.__name__}"
        ) from None


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)
