"""Fuzz a live server with schemathesis from its own OpenAPI document (the long run of
``tests/e2e/test_fuzz.py``): first with wrong keys, then with the right ones, over several
seeds, each on a fresh server.

    .venv/bin/python bench/fuzz.py                       # 2 seeds, 60 examples per operation
    .venv/bin/python bench/fuzz.py --seeds 5 --examples 100

Prints the requests sent, their statuses and every failure; exits with status 1 on any
5xx or any answer that breaks the document.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
from pathlib import Path

from semcache.testing.fuzz import FuzzReport, fuzz
from semcache.testing.server import ServerProcess


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=2, help="runs, each on a fresh server")
    parser.add_argument("--examples", type=int, default=60, help="test cases per operation")
    parser.add_argument("--workers", type=int, default=1, help="concurrent schemathesis workers")
    args = parser.parse_args()
    total = FuzzReport()
    with tempfile.TemporaryDirectory(prefix="semcache-fuzz-") as directory:
        for seed in range(1, args.seeds + 1):
            with ServerProcess(Path(directory) / f"data{seed}") as server:
                for keys in ("wrong", "right"):
                    report = fuzz(
                        server,
                        Path(directory) / f"fuzz{seed}",
                        max_examples=args.examples,
                        seed=seed,
                        keys=keys,  # type: ignore[arg-type]
                        workers=args.workers,
                    )
                    print(f"seed {seed}, {keys} keys: {report.summary()}", flush=True)
                    for failure in report.failures:
                        print(f"  {failure}")
                    _add(total, report)
    print(f"total: {total.summary()}")
    return 0 if total.ok else 1


def _add(total: FuzzReport, report: FuzzReport) -> None:
    total.requests += report.requests
    total.statuses = collections.Counter(total.statuses) + report.statuses
    total.failures += report.failures
    total.exit_code = total.exit_code or report.exit_code


if __name__ == "__main__":
    sys.exit(main())
