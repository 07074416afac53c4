"""What the first start on an empty data directory sets up: a cache, its key, an admin key.

The values the LangCache examples need (``HOST``, ``CACHE_ID``, ``API_KEY``) are printed
once and kept in ``<data dir>/quickstart.env`` (mode 0600), in ``NAME=value`` lines that
``set -a; . quickstart.env; set +a`` or ``docker --env-file`` read as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from semcache._files import write_private
from semcache.core.admin import CacheSpec
from semcache.core.services import Services

__all__ = ["QuickStart", "ensure_quickstart", "public_host"]

QUICKSTART_FILE = "quickstart.env"
ADMIN_KEY_FILE = "admin.key"


@dataclass(frozen=True, slots=True)
class QuickStart:
    """The quick-start values; ``created`` is True on the start that made them."""

    path: Path
    values: dict[str, str]
    created: bool
    admin_key_path: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        return [f"{name}={value}" for name, value in self.values.items()]


def public_host(host: str, port: int) -> str:
    """How clients on this machine address the server: ``localhost`` for any local bind."""
    shown = "localhost" if host in ("", "0.0.0.0", "::", "127.0.0.1", "::1") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"{shown}:{port}"


async def ensure_quickstart(
    services: Services, data_dir: Path, *, host: str, client_env: dict[str, str]
) -> QuickStart | None:
    """Make the quick-start cache and keys on a store that has no cache yet.

    On later starts the file is kept (its ``HOST`` and trust lines follow the current
    settings) and nothing is made; ``None`` when the store already had caches but no file.
    """
    path = data_dir / QUICKSTART_FILE
    if path.exists():
        values = _read_env(path)
        values = {
            "HOST": host,
            "CACHE_ID": values.get("CACHE_ID", ""),
            "API_KEY": values.get("API_KEY", ""),
        }
        _write_env(path, values, client_env)
        return QuickStart(path, values, created=False, extra=client_env)
    # Servers sharing a database may start at once: only the one that creates the first
    # cache goes on to make its keys.
    cache = await services.admin.create_first(CacheSpec(name="default"))
    if cache is None:
        return None
    issued = await services.keys.issue(cache.id, label="quick start")
    values = {"HOST": host, "CACHE_ID": cache.id, "API_KEY": issued.secret}
    admin_key_path = await _ensure_admin_key(services, data_dir)
    _write_env(path, values, client_env)
    return QuickStart(path, values, created=True, admin_key_path=admin_key_path, extra=client_env)


async def _ensure_admin_key(services: Services, data_dir: Path) -> Path | None:
    if any(key.cache_id is None for key in await services.store.list_keys()):
        return None
    issued = await services.keys.issue(None, label="quick start admin")
    path = data_dir / ADMIN_KEY_FILE
    write_private(path, (issued.secret + "\n").encode())
    return path


def _read_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            values[name.strip()] = value.strip()
    return values


def _write_env(path: Path, values: dict[str, str], extra: dict[str, str]) -> None:
    lines = [f"{name}={value}" for name, value in {**values, **extra}.items()]
    write_private(path, ("\n".join(lines) + "\n").encode())
