from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from click.testing import CliRunner

from semcache.cli import cli
from semcache.core.stats import MINUTE
from semcache.store.base import CacheConfig, StatsBucket
from semcache.store.sqlite import SQLiteStore


async def _prepare(directory: Path) -> None:
    store = await SQLiteStore.open(directory)
    now = time.time_ns() // 1_000_000
    minute = now - now % MINUTE
    for cache_id, name in [("busy", "busy one"), ("idle", "")]:
        await store.create_cache(CacheConfig(id=cache_id, name=name, embedder="x", created_at=0))
    await store.record_stats(
        [
            StatsBucket(
                "busy", minute, searches=4, hits=3, latency_ms_sum=10.0, latency_counts=(0, 2, 2)
            ),
            StatsBucket(
                "busy",
                minute - 3 * 60 * MINUTE,
                searches=6,
                hits=0,
                latency_ms_sum=6.0,
                latency_counts=(6,),
            ),
        ]
    )
    await store.close()


def test_stats_of_every_cache_over_three_windows(tmp_path: Path) -> None:
    asyncio.run(_prepare(tmp_path))
    result = CliRunner().invoke(cli, ["stats", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "CACHE",
        "NAME",
        "WINDOW",
        "SEARCHES",
        "HIT",
        "RATIO",
        "AVG",
        "MS",
        "P95",
        "MS",
        "ENTRIES",
    ]
    busy = [line.split() for line in lines if line.startswith("busy ")]
    assert [row[3:] for row in busy] == [
        ["hour", "4", "75.0%", "2.50", "2.90", "0"],
        ["day", "10", "30.0%", "1.60", "2.75", "0"],
        ["week", "10", "30.0%", "1.60", "2.75", "0"],
    ]
    idle = [line.split() for line in lines if line.startswith("idle ")]
    assert idle[0][1:] == ["hour", "0", "-", "-", "-", "0"]


def test_stats_of_one_cache_as_json(tmp_path: Path) -> None:
    asyncio.run(_prepare(tmp_path))
    result = CliRunner().invoke(
        cli, ["stats", "busy", "--window", "day", "--json", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    [day] = json.loads(result.stdout)
    assert (day["cacheId"], day["name"], day["window"], day["searches"]) == (
        "busy",
        "busy one",
        "day",
        10,
    )
    assert len(day["points"]) == 96
    missing = CliRunner().invoke(cli, ["stats", "nosuch", "--data-dir", str(tmp_path)])
    assert missing.exit_code == 1 and "not found" in missing.output
