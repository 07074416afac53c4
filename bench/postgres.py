"""Run a local PostgreSQL with pgvector (from ``pgserver``) for benchmarks with ``--store``.

    .venv/bin/python bench/postgres.py --database bench > /tmp/pg-url &
    .venv/bin/python bench/search_latency.py --store "$(head -1 /tmp/pg-url)"
    kill %1

Prints the URL of each named database, new and empty with pgvector installed, one per line,
then serves until interrupted, and stops the server (its data directory is removed unless
``--directory`` was given).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import tempfile
from pathlib import Path

from semcache.testing.postgres import LocalPostgres


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", action="append", default=[], help="repeatable")
    parser.add_argument("--directory", type=Path, help="data directory (default: temporary)")
    args = parser.parse_args()
    directory = args.directory or Path(tempfile.mkdtemp(prefix="semcache-bench-postgres-"))
    postgres = LocalPostgres.start(directory / "data")
    try:
        for name in args.database or ["bench"]:
            print(postgres.create_database(name), flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        postgres.stop()
        if args.directory is None:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    main()
