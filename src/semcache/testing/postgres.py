"""A real PostgreSQL with pgvector for tests and benchmarks, from the ``pgserver`` package.

``pgserver`` (in semcache's ``dev`` extra) carries PostgreSQL and pgvector binaries; the
server listens on a Unix socket in its own data directory only::

    postgres = LocalPostgres.start(tmp_path / "pg")
    url = postgres.create_database("semcache_test")
    ...
    postgres.stop()
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, LiteralString
from urllib.parse import quote

import psycopg
from psycopg import sql

__all__ = ["LocalPostgres"]


class LocalPostgres:
    """One PostgreSQL server with pgvector, run as a child of this process."""

    def __init__(self, server: Any, directory: Path) -> None:
        self._server = server
        self.directory = directory

    @classmethod
    def start(cls, directory: Path) -> LocalPostgres:
        """Start (initialising if need be) a server whose data lives in ``directory``."""
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset, which is common in CI.
            warnings.simplefilter("ignore")
            from pgserver.postgres_server import get_server

            server = get_server(directory, cleanup_mode="stop")
        return cls(server, directory)

    @property
    def socket_dir(self) -> Path:
        return Path(self._server.get_postmaster_info().socket_dir)

    def url(
        self,
        database: str = "postgres",
        *,
        schema: str | None = None,
        settings: Mapping[str, str] | None = None,
    ) -> str:
        """A ``postgresql://`` URL of a database, with ``schema`` first on its search path
        and the given run-time settings (e.g. ``{"enable_seqscan": "off"}``)."""
        url = f"postgresql://postgres@/{quote(database)}?host={quote(str(self.socket_dir))}"
        options = [f"-c{name}={value}" for name, value in (settings or {}).items()]
        if schema is not None:
            options.append(f"-csearch_path={schema},public")
        if options:
            url += "&options=" + quote(" ".join(options))
        return url

    def create_database(self, name: str) -> str:
        """Make an empty database with pgvector installed (dropping any of that name);
        returns its URL."""
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        with psycopg.connect(self.url(name), autocommit=True) as connection:
            connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
        return self.url(name)

    def create_schema(self, database: str, schema: str) -> None:
        self.execute(database, sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))

    def drop_schema(self, database: str, schema: str) -> None:
        """Drop the schema and everything in it."""
        self.execute(database, sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))

    def execute(
        self,
        database: str,
        statement: LiteralString | sql.Composed,
        params: Sequence[Any] | None = None,
    ) -> list[tuple[Any, ...]]:
        """Run one statement in ``database`` (autocommit); its rows, if it returns any."""
        with psycopg.connect(self.url(database), autocommit=True) as connection:
            cursor = connection.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def stop(self) -> None:
        """Stop the server (its data stays in the directory)."""
        self._server.cleanup()
