"""Another revision of semcache beside this one, in interleaved rounds: is a change faster?

    .venv/bin/python bench/ab.py --base 17e663e             # one client, then 32 clients
    .venv/bin/python bench/ab.py --base HEAD~1 --rounds 8 --only latency

The machine's speed moves between runs by more than most changes are worth, so both
servers run at once, on copies of the same prepared store, and take turns round by round
(each goes first in every other round): whatever the host does, both see it. The base
revision runs from a git worktree (in ``--workdir``) with this checkout's environment.
Each round prints both figures and their ratio; the last lines are medians.

- ``latency``: one client, ``--searches`` search hits, the p50 of each server's round.
- ``reworded``: the same for reworded prompts (``_dataset.paraphrases``), whose stored
  originals are set into both servers first: hits a little below cosine 1.
- ``throughput``: 32 clients searching for ``--seconds`` seconds, searches/s.
- ``exact``: the same with exact-only searches, which never reach the model.
- ``mixed``: the same with exact and semantic strategies, for prompts that differ from a
  stored one by a character: each exact lookup misses, then the model runs.
- ``after-writes``: one client's search half a second after a burst of 500 sets from 16
  clients, ms (the median of its rounds): how long the index takes the sets in for.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path

# The environment as the shell gave it, before importing semcache sets its defaults in it:
# each server must set its own, or the base revision would run with this one's.
SHELL_ENVIRONMENT = dict(os.environ)

import _dataset as data  # noqa: E402
from _http import run_load  # noqa: E402
from speed import PAUSE_AFTER_SETS, Semcache, expect, is_hit, timed, uptime  # noqa: E402

LOWER_IS_BETTER = ("latency", "reworded", "after-writes")
BURST = 500

ROOT = Path(__file__).resolve().parent.parent
STRATEGIES = {"exact": ["exact"], "mixed": ["exact", "semantic"]}


def worktree(revision: str, workdir: Path) -> Path:
    """The source directory of ``revision``, checked out beside the bench's files."""
    path = workdir / "base"
    if path.exists():
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=False)
        shutil.rmtree(path, ignore_errors=True)
    subprocess.run(
        ["git", "worktree", "add", "--detach", "--force", str(path), revision],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return path / "src"


def started(args: argparse.Namespace, prepared: data.Prepared) -> dict[str, Semcache]:
    servers: dict[str, Semcache] = {}
    for name, env in (
        ("base", {"PYTHONPATH": str(worktree(args.base, args.workdir))}),
        ("this", {}),
    ):
        (args.workdir / name).mkdir(parents=True, exist_ok=True)
        server = Semcache(args.workdir / name, prepared)
        server.server.env = env
        servers[name] = server.start()
        if "reworded" in args.only:
            origins = [server.set(origin) for origin, _ in data.paraphrases()]
            url, headers = server.server.url, server.headers
            asyncio.run(run_load(url, headers, origins, clients=16, total=len(origins)))
    return servers


def measure(kind: str, server: Semcache, prompts: list[str], args: argparse.Namespace) -> float:
    url, headers = server.server.url, server.headers
    fields = {"searchStrategies": STRATEGIES[kind]} if kind in STRATEGIES else {}
    if kind == "mixed":
        prompts = [f"{prompt}?" for prompt in prompts]
    requests = [server.search(prompt, **fields) for prompt in prompts]
    if kind in ("latency", "reworded"):
        timings = asyncio.run(timed(url, headers, requests))
        return statistics.median(ms for ms, reply in timings if is_hit(reply))
    if kind == "after-writes":
        burst = time.time_ns()  # new prompts every time: each set adds a vector
        sets = [server.set(f"{prompts[i % len(prompts)]} ({burst} {i})") for i in range(BURST)]
        asyncio.run(run_load(url, headers, sets, clients=16, total=len(sets)))
        time.sleep(PAUSE_AFTER_SETS)
        [(millis, _)] = asyncio.run(timed(url, headers, requests[:1]))
        return millis
    check = expect(None if kind == "mixed" else True)
    load = asyncio.run(
        run_load(url, headers, requests, clients=32, seconds=args.seconds, check=check)
    )
    return load.rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True, help="the git revision to compare with")
    parser.add_argument(
        "--only", default="latency,throughput", help="also: reworded, exact, mixed, after-writes"
    )
    parser.add_argument("--size", type=int, default=100_000, help="entries in the store")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--searches", type=int, default=200, help="per round, one client")
    parser.add_argument("--seconds", type=float, default=5.0, help="per round, 32 clients")
    parser.add_argument("--workdir", type=Path, default=data.BENCH_DIR / "ab")
    args = parser.parse_args()
    prepared = data.prepare(args.size)
    stored = prepared.dataset.texts()
    reworded = [similar for _, similar in data.paraphrases()]
    servers = started(args, prepared)
    units = {
        "latency": "search hit p50 ms, one client",
        "reworded": "reworded search hit p50 ms, one client",
        "throughput": "searches/s, 32 clients",
        "exact": "exact-only searches/s, 32 clients",
        "mixed": "exact-then-semantic searches/s, 32 clients",
        "after-writes": f"ms of a search {PAUSE_AFTER_SETS:g} s after {BURST} sets, one client",
    }
    try:
        for kind in args.only.split(","):
            data.log(f"\n== {kind}: {units[kind]} ({uptime()})")
            figures: dict[str, list[float]] = {name: [] for name in servers}
            for round_ in range(args.rounds):
                if kind == "reworded":
                    prompts = reworded[round_ :: args.rounds][: args.searches]
                else:
                    step = max(1, len(stored) // args.searches)
                    prompts = stored[round_::step][: args.searches if kind == "latency" else 4000]
                order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
                for name in order:
                    figures[name].append(measure(kind, servers[name], prompts, args))
                base, this = figures["base"][-1], figures["this"][-1]
                print(
                    f"round {round_ + 1}: base {base:.2f}  this {this:.2f}  ratio {this / base:.3f}"
                )
            base, this = (statistics.median(figures[name]) for name in ("base", "this"))
            wins = sum(
                (t < b) if kind in LOWER_IS_BETTER else (t > b)
                for b, t in zip(figures["base"], figures["this"], strict=True)
            )
            print(
                f"median: base {base:.2f}  this {this:.2f}  this/base {this / base:.3f}  "
                f"(this better in {wins} of {args.rounds} rounds)"
            )
    finally:
        for server in servers.values():
            server.stop()


if __name__ == "__main__":
    main()
