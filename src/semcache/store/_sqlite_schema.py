from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["DATABASE_NAME", "MIGRATIONS", "SCHEMA_VERSION", "connect", "migrate"]

DATABASE_NAME = "semcache.db"

# Each migration is applied once, in order, inside one transaction; `user_version` records
# how many have been applied. Never edit a released migration: append a new one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE caches (
            id TEXT PRIMARY KEY,
            config TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            dimension INTEGER
        )""",
        """CREATE TABLE keys (
            id TEXT PRIMARY KEY,
            cache_id TEXT REFERENCES caches (id) ON DELETE CASCADE,
            salt BLOB NOT NULL,
            digest BLOB NOT NULL,
            label TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            revoked_at INTEGER
        )""",
        "CREATE INDEX keys_cache ON keys (cache_id)",
        # AUTOINCREMENT: an entry's id is the label of its vector in every process's index,
        # so an id must never be reused for a different vector.
        """CREATE TABLE entries (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            cache_id TEXT NOT NULL REFERENCES caches (id) ON DELETE CASCADE,
            entry_id TEXT NOT NULL,
            prompt TEXT NOT NULL,
            prompt_key TEXT NOT NULL,
            response TEXT NOT NULL,
            attributes TEXT NOT NULL,
            vector BLOB NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER,
            UNIQUE (cache_id, entry_id)
        )""",
        "CREATE INDEX entries_prompt ON entries (cache_id, prompt_key)",
        "CREATE INDEX entries_expiry ON entries (expires_at) WHERE expires_at IS NOT NULL",
        """CREATE TABLE entry_attributes (
            entry INTEGER NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
            cache_id TEXT NOT NULL,
            name TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (entry, name)
        ) WITHOUT ROWID""",
        "CREATE INDEX entry_attributes_lookup ON entry_attributes (cache_id, name, value)",
        """CREATE TABLE changes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            cache_id TEXT NOT NULL,
            entry INTEGER,
            op TEXT NOT NULL CHECK (op IN ('put', 'delete', 'clear'))
        )""",
        "CREATE INDEX changes_cache ON changes (cache_id, seq)",
        """CREATE TABLE snapshots (
            cache_id TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,
            saved_at INTEGER NOT NULL
        )""",
        "CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        "INSERT INTO meta (name, value) VALUES ('pruned_through', 0)",
    ),
    (
        # A counter of changes to keys and caches, bumped by triggers in the changing
        # transaction itself: processes check it to keep key and cache lookups in memory.
        "INSERT INTO meta (name, value) VALUES ('auth_version', 0)",
        *(
            f"""CREATE TRIGGER {table}_{event.lower()}_auth AFTER {event} ON {table}
            BEGIN UPDATE meta SET value = value + 1 WHERE name = 'auth_version'; END"""
            for table in ("keys", "caches")
            for event in ("INSERT", "UPDATE", "DELETE")
        ),
    ),
    (
        # Per-minute search statistics; histograms are JSON arrays of counts.
        """CREATE TABLE stats (
            cache_id TEXT NOT NULL REFERENCES caches (id) ON DELETE CASCADE,
            minute INTEGER NOT NULL,
            searches INTEGER NOT NULL,
            hits INTEGER NOT NULL,
            latency_ms_sum REAL NOT NULL,
            latency_counts TEXT NOT NULL,
            similarity_counts TEXT NOT NULL,
            items INTEGER,
            PRIMARY KEY (cache_id, minute)
        ) WITHOUT ROWID""",
        "CREATE INDEX stats_minute ON stats (minute)",
        # Pages of entries, newest first, without sorting the whole cache. The index is
        # partial so that only a query naming its condition uses it: the planner would
        # otherwise prefer it for find_exact's ORDER BY over the (cache_id, prompt_key) index.
        """CREATE INDEX entries_listing ON entries (cache_id, created_at, entry_id)
        WHERE created_at IS NOT NULL""",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)


def connect(path: Path, *, busy_timeout: float, query_only: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode: transactions are begun explicitly."""
    connection = sqlite3.connect(
        path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    try:
        connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("PRAGMA mmap_size = 268435456")
        if query_only:
            connection.execute("PRAGMA query_only = ON")
    except BaseException:
        connection.close()
        raise
    return connection


def migrate(connection: sqlite3.Connection) -> int:
    """Switch to WAL and apply the migrations this database lacks; returns the version."""
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("BEGIN IMMEDIATE")
    try:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"database schema version {version} is newer than this semcache "
                f"({SCHEMA_VERSION}); upgrade semcache"
            )
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return SCHEMA_VERSION
