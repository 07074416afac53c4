"""The ``semcache`` command: run the server, manage caches and keys."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from semcache import __version__
from semcache.config import Settings, setting_help, setting_names
from semcache.core.admin import CacheSpec
from semcache.core.services import Services
from semcache.embedding.registry import EmbedderRegistry
from semcache.embedding.verifier import VerifierRegistry
from semcache.errors import SemcacheError
from semcache.evaluation.console import eval_command
from semcache.quickstart import QuickStart, ensure_quickstart, public_host
from semcache.store.registry import open_store
from semcache.tls import ensure_local_tls

__all__ = ["cli"]

P = ParamSpec("P")
T = TypeVar("T")


def store_options(command: Callable[P, T]) -> Callable[P, T]:
    """``--data-dir`` and ``--store``, shared by every command that opens the store."""
    command = click.option(
        "--store",
        help="Store URL, e.g. postgresql://… (default: the SQLite store in the data directory)",
    )(command)
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Data directory [env SEMCACHE_DATA_DIR; default ./semcache-data]",
    )(command)


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings.from_env(**overrides)
    except SemcacheError as exc:
        raise click.ClickException(str(exc)) from exc


@contextlib.contextmanager
def _private_files() -> Iterator[None]:
    """Files and directories made meanwhile are for this user only (0600 and 0700)."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def _run(settings: Settings, action: Callable[[Services], Awaitable[T]]) -> T:
    """Run ``action`` with services over the configured store, turning errors into messages;
    a store made on the way is private to this user."""

    async def main() -> T:
        store = await open_store(settings.store_url, preload=False)
        embedders = EmbedderRegistry(threads=settings.threads)
        services = Services.build(
            store,
            embedders,
            default_embedder=settings.embedder,
            verifiers=VerifierRegistry(threads=settings.threads),
            default_verifier=settings.verifier,
        )
        try:
            return await action(services)
        finally:
            await services.close()

    try:
        with _private_files():
            return asyncio.run(main())
    except SemcacheError as exc:
        raise click.ClickException(str(exc)) from exc


def _echo_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@click.group()
@click.version_option(__version__, prog_name="semcache")
def cli() -> None:
    """semcache: a self-hosted semantic cache that speaks the Redis LangCache API."""


def _show_settings(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    for name, default, help_text in setting_help():
        click.echo(f"{name:28} {default:24} {help_text}  [env SEMCACHE_{name.upper()}]")
    ctx.exit()


@cli.command()
@store_options
@click.option("--host", help="Address to listen on [default 127.0.0.1]")
@click.option("--port", type=int, help="Port to listen on [default 8080]")
@click.option("--workers", type=int, help="Server processes [default 1]")
@click.option("--tls-cert", type=click.Path(dir_okay=False, path_type=Path), help="PEM cert")
@click.option("--tls-key", type=click.Path(dir_okay=False, path_type=Path), help="PEM key")
@click.option("--no-tls", is_flag=True, default=None, help="Serve plain HTTP")
@click.option(
    "--setting",
    "settings_given",
    type=(click.Choice(setting_names()), str),
    multiple=True,
    help="Any setting by name, e.g. --setting max_results 50",
)
@click.option(
    "--help-settings",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_show_settings,
    help="List every setting and exit",
)
def serve(settings_given: tuple[tuple[str, str], ...], **flags: Any) -> None:
    """Run the LangCache-compatible server."""
    from semcache.config import parse_setting

    given = {name: parse_setting(name, raw) for name, raw in settings_given}
    settings = _settings(**{**given, **flags})
    # Everything the server writes (the database, indexes, keys, TLS files) is its user's alone.
    os.umask(0o077)
    _warn_if_shared(settings.data_dir)
    client_env = _prepare_tls(settings)
    if client_env is not None:
        settings = _settings(**{**given, **flags, **_tls_paths(settings)})
    host = public_host(settings.host, settings.port)
    quickstart = _run(
        settings,
        lambda services: ensure_quickstart(
            services, settings.data_dir, host=host, client_env=client_env or {}
        ),
    )
    _announce(quickstart, settings)
    _serve(settings)


def _warn_if_shared(data_dir: Path) -> None:
    mode = data_dir.stat().st_mode & 0o777 if data_dir.is_dir() else 0
    if mode & 0o077:
        click.echo(
            f"semcache: warning: {data_dir} can be read by other users (mode {mode:o}); "
            f"it holds every cached prompt and response: chmod 700 {data_dir}",
            err=True,
        )


def _prepare_tls(settings: Settings) -> dict[str, str] | None:
    """Make the local CA and certificate unless TLS is off or a certificate was given."""
    if settings.no_tls or settings.tls_cert:
        if bool(settings.tls_cert) != bool(settings.tls_key):
            raise click.UsageError("--tls-cert and --tls-key go together")
        return None
    tls = ensure_local_tls(settings.data_dir / "tls", settings.host)
    return tls.client_env()


def _tls_paths(settings: Settings) -> dict[str, Path]:
    directory = settings.data_dir / "tls"
    return {"tls_cert": directory / "server.pem", "tls_key": directory / "server-key.pem"}


def _announce(quickstart: QuickStart | None, settings: Settings) -> None:
    scheme = "http" if settings.no_tls else "https"
    if quickstart is None:
        click.echo(
            f"semcache: serving {scheme}://{public_host(settings.host, settings.port)}", err=True
        )
        return
    if quickstart.created:
        click.echo("\n".join(quickstart.lines()))
        click.echo(f"# these values are kept in {quickstart.path}", err=True)
        if quickstart.admin_key_path:
            click.echo(f"# the admin key is in {quickstart.admin_key_path}", err=True)
    else:
        click.echo(f"semcache: quick-start values are in {quickstart.path}", err=True)
    if quickstart.extra:
        click.echo(
            f"# to use them: set -a; . {quickstart.path}; set +a   (also trusts the local CA)",
            err=True,
        )
    click.echo(f"semcache: serving {scheme}://{quickstart.values['HOST']}", err=True)


def _serve(settings: Settings) -> None:
    import uvicorn

    from semcache.api.logs import log_config
    from semcache.api.metrics import multiprocess_directory

    try:
        logs = log_config(level=settings.log_level, log_format=settings.log_format)
    except SemcacheError as exc:
        raise click.ClickException(str(exc)) from exc
    os.environ.update(settings.to_env())
    with multiprocess_directory(settings.workers):
        uvicorn.run(
            "semcache.api.app:app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            ssl_certfile=settings.tls_cert,
            ssl_keyfile=settings.tls_key,
            log_config=logs,
            log_level=settings.log_level,
            access_log=False,  # semcache.access logs each request, with its ID
            lifespan="on",
            server_header=False,
        )


@cli.command()
@store_options
@click.argument("cache_id", required=False)
@click.option(
    "--window",
    type=click.Choice(["hour", "day", "week"]),
    help="Only this window [default: hour, day and week]",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON, with the series of points")
def stats(
    data_dir: Path | None,
    store: str | None,
    cache_id: str | None,
    window: str | None,
    as_json: bool,
) -> None:
    """Searches, hit ratio, latency and entries of CACHE_ID (or every cache) over the last
    hour, day and week, added up over every server that shares the store."""
    from semcache._stats_report import read_report, report_json, report_table
    from semcache.core.stats import Window

    windows = [Window.named(window)] if window else list(Window)
    settings = _settings(data_dir=data_dir, store=store)
    report = _run(settings, lambda s: read_report(s, cache_id, windows))
    if as_json:
        _echo_json(report_json(report))
    else:
        click.echo(report_table(report))


# caches


@cli.group()
def caches() -> None:
    """Create, list, show and delete caches."""


def _cache_row(cache: Any, entries: int | None = None) -> dict[str, Any]:
    from semcache.api.schemas import cache_json

    return cache_json(cache) | ({} if entries is None else {"entries": entries})


@caches.command("create")
@store_options
@click.option("--name", default="", help="A name for people")
@click.option("--id", "cache_id", help="The cache ID (letters and digits; default random)")
@click.option(
    "--attribute",
    "attributes",
    multiple=True,
    help="An attribute name entries may carry (repeat; default: any name)",
)
@click.option("--no-attributes", is_flag=True, help="Entries may carry no attributes")
@click.option("--threshold", type=click.FloatRange(0, 1), help="Default similarity threshold")
@click.option("--ttl-millis", type=click.IntRange(min=1), help="Default time to live")
@click.option("--embedder", help="Embedder name (default: the embedder setting)")
@click.option(
    "--verifier",
    help="Verifier name, or 'off' to decide hits by cosine similarity alone "
    "(default: follow the verifier setting)",
)
def create_cache(
    data_dir: Path | None,
    store: str | None,
    attributes: tuple[str, ...],
    no_attributes: bool,
    **options: Any,
) -> None:
    """Create a cache and print it."""
    if attributes and no_attributes:
        raise click.UsageError("--attribute and --no-attributes exclude each other")
    spec = CacheSpec(
        name=options["name"],
        id=options["cache_id"],
        attributes=() if no_attributes else (attributes or None),
        similarity_threshold=options["threshold"],
        ttl_millis=options["ttl_millis"],
        embedder=options["embedder"],
        verifier=options["verifier"],
    )
    cache = _run(_settings(data_dir=data_dir, store=store), lambda s: s.admin.create(spec))
    _echo_json(_cache_row(cache))


@caches.command("list")
@store_options
def list_caches(data_dir: Path | None, store: str | None) -> None:
    """List every cache."""
    found = _run(_settings(data_dir=data_dir, store=store), lambda s: s.admin.list())
    _echo_json([_cache_row(cache) for cache in found])


@caches.command("show")
@store_options
@click.argument("cache_id")
def show_cache(data_dir: Path | None, store: str | None, cache_id: str) -> None:
    """Show a cache and how many entries it holds."""
    summary = _run(_settings(data_dir=data_dir, store=store), lambda s: s.admin.summary(cache_id))
    _echo_json(_cache_row(summary.cache, summary.entries))


@caches.command("delete")
@store_options
@click.argument("cache_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation")
def delete_cache(data_dir: Path | None, store: str | None, cache_id: str, yes: bool) -> None:
    """Delete a cache with all its entries and keys."""
    if not yes:
        click.confirm(f"Delete cache {cache_id} with all its entries and keys?", abort=True)
    _run(_settings(data_dir=data_dir, store=store), lambda s: s.admin.delete(cache_id))
    click.echo(f"deleted cache {cache_id}", err=True)


# keys


@cli.group()
def keys() -> None:
    """Create, list and revoke API keys."""


@keys.command("create")
@store_options
@click.argument("cache_id", required=False)
@click.option("--admin", is_flag=True, help="Make an admin key (for the admin API)")
@click.option("--label", default="", help="A note on who uses the key")
def create_key(
    data_dir: Path | None, store: str | None, cache_id: str | None, admin: bool, label: str
) -> None:
    """Create a key for CACHE_ID (or --admin); the key is printed this once only."""
    if admin == (cache_id is not None):
        raise click.UsageError("give either a CACHE_ID or --admin")
    settings = _settings(data_dir=data_dir, store=store)
    issued = _run(settings, lambda s: s.keys.issue(None if admin else cache_id, label=label))
    click.echo(f"# key {issued.record.id}: store it now, it is not shown again", err=True)
    click.echo(issued.secret)


@keys.command("list")
@store_options
@click.argument("cache_id", required=False)
def list_keys(data_dir: Path | None, store: str | None, cache_id: str | None) -> None:
    """List keys (never their secrets), of one cache or all."""
    from semcache.api.schemas import key_json

    found = _run(_settings(data_dir=data_dir, store=store), lambda s: s.store.list_keys(cache_id))
    _echo_json([key_json(key) for key in found])


@keys.command("revoke")
@store_options
@click.argument("key_id")
def revoke_key(data_dir: Path | None, store: str | None, key_id: str) -> None:
    """Revoke a key; a running server refuses it from its next request."""
    _run(_settings(data_dir=data_dir, store=store), lambda s: s.keys.revoke(key_id))
    click.echo(f"revoked key {key_id}", err=True)


cli.add_command(eval_command)
