from __future__ import annotations

from typing import Any, LiteralString

from psycopg import AsyncConnection

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SchemaTooNew", "migrate"]

# Each migration is applied once, in order, in one transaction that also records it in
# semcache_migrations. Never edit a released migration: append a new one.
MIGRATIONS: tuple[tuple[LiteralString, ...], ...] = (
    (
        "CREATE EXTENSION IF NOT EXISTS vector",
        """CREATE TABLE semcache_caches (
            no bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
            id text PRIMARY KEY,
            config jsonb NOT NULL,
            created_at bigint NOT NULL,
            dimension integer
        )""",
        """CREATE TABLE semcache_keys (
            id text PRIMARY KEY,
            cache_id text REFERENCES semcache_caches (id) ON DELETE CASCADE,
            salt bytea NOT NULL,
            digest bytea NOT NULL,
            label text NOT NULL,
            created_at bigint NOT NULL,
            revoked_at bigint
        )""",
        "CREATE INDEX semcache_keys_cache ON semcache_keys (cache_id)",
        # A cache's entries carry its number, not its ID: a cache deleted and created again
        # under the same ID gets a new number, so its vector index is a new one too.
        """CREATE TABLE semcache_entries (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            cache_no bigint NOT NULL REFERENCES semcache_caches (no) ON DELETE CASCADE,
            entry_id text NOT NULL,
            prompt text NOT NULL,
            prompt_key text NOT NULL,
            response text NOT NULL,
            attributes jsonb NOT NULL,
            embedding vector NOT NULL,
            created_at bigint NOT NULL,
            expires_at bigint,
            UNIQUE (cache_no, entry_id)
        )""",
        # A hash index: prompts may be longer than a B-tree row allows.
        "CREATE INDEX semcache_entries_prompt ON semcache_entries USING hash (prompt_key)",
        """CREATE INDEX semcache_entries_attributes ON semcache_entries
            USING gin (attributes jsonb_path_ops)""",
        "CREATE INDEX semcache_entries_live ON semcache_entries (cache_no, expires_at)",
        """CREATE INDEX semcache_entries_expiry ON semcache_entries (expires_at)
            WHERE expires_at IS NOT NULL""",
    ),
    (
        # Per-minute search statistics, added to by every replica.
        """CREATE TABLE semcache_stats (
            cache_no bigint NOT NULL REFERENCES semcache_caches (no) ON DELETE CASCADE,
            minute bigint NOT NULL,
            searches bigint NOT NULL,
            hits bigint NOT NULL,
            latency_ms_sum double precision NOT NULL,
            latency_counts bigint[] NOT NULL,
            similarity_counts bigint[] NOT NULL,
            items bigint,
            PRIMARY KEY (cache_no, minute)
        )""",
        "CREATE INDEX semcache_stats_minute ON semcache_stats (minute)",
        # Pages of entries, newest first, without sorting the whole cache.
        """CREATE INDEX semcache_entries_listing
            ON semcache_entries (cache_no, created_at, entry_id COLLATE "C")""",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)

_LOCK = "SELECT pg_advisory_xact_lock(hashtext('semcache migrate ' || current_schema()))"


class SchemaTooNew(Exception):
    """The database was migrated by a newer semcache."""


async def migrate(connection: AsyncConnection[Any]) -> int:
    """Apply the migrations the database lacks, under an advisory lock, so that several
    processes starting at once apply each exactly once; returns the schema version."""
    async with connection.transaction():
        await connection.execute(_LOCK)
        cursor = await connection.execute("SELECT to_regclass('semcache_migrations')")
        row = await cursor.fetchone()
        if row is None or row[0] is None:
            # Checked first: IF NOT EXISTS would still need the right to create tables.
            await connection.execute(
                "CREATE TABLE semcache_migrations"
                " (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
        cursor = await connection.execute(
            "SELECT coalesce(max(version), 0) FROM semcache_migrations"
        )
        row = await cursor.fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"database schema version {version} is newer than this semcache "
                f"({SCHEMA_VERSION}); upgrade semcache"
            )
        for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in statements:
                await connection.execute(statement)
            await connection.execute(
                "INSERT INTO semcache_migrations (version) VALUES (%s)", (number,)
            )
    return SCHEMA_VERSION
