"""Crash safety: ``kill -9`` the server at random moments under writes, and check that
every acknowledged write survived, every acknowledged delete stayed deleted, and the
vector index agrees with the database (see `semcache.testing.crash`).

    .venv/bin/python bench/crash_safety.py                    # 500 kills, 400 prompts
    .venv/bin/python bench/crash_safety.py --kills 50 --seed 7

Exits with status 1 if anything was lost or resurrected. The data directory is kept
(its path is printed) when a run fails.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

from semcache.testing.crash import CrashHarness, CrashReport


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=500, help="rounds, each ended by SIGKILL")
    parser.add_argument("--prompts", type=int, default=400, help="distinct prompts written")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    parser.add_argument("--seed", type=int, default=0, help="makes a run reproducible")
    parser.add_argument("--longest-round", type=float, default=1.0, help="seconds before a kill")
    parser.add_argument(
        "--semantic-sample", type=int, default=50, help="prompts checked by vector per restart"
    )
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="semcache-crash-"))
    harness = CrashHarness(
        directory / "data",
        kills=args.kills,
        seed=args.seed,
        prompts=args.prompts,
        clients=args.clients,
        round_seconds=(0.05, args.longest_round),
        semantic_sample=args.semantic_sample,
        progress=_every_25_kills,
    )
    report = asyncio.run(harness.run())
    print(report.summary())
    for violation in report.violations:
        print(violation, file=sys.stderr)
    if report.ok:
        shutil.rmtree(directory)
        return 0
    print(f"data kept in {directory}", file=sys.stderr)
    return 1


def _every_25_kills(report: CrashReport) -> None:
    if report.kills % 25 == 0:
        print(report.summary(), flush=True)


if __name__ == "__main__":
    sys.exit(main())
