"""``kill -9`` under load loses no acknowledged write and resurrects no delete.

The long run is ``bench/crash_safety.py`` (500 kills by default).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from semcache.testing.crash import CrashHarness


@pytest.mark.anyio
async def test_fifty_kills_lose_nothing(tmp_path: Path) -> None:
    harness = CrashHarness(tmp_path / "data", kills=50, seed=11, prompts=100)
    report = await harness.run()
    assert report.ok, "\n".join(report.violations)
    assert report.kills == 50
    assert report.sets_acknowledged > 200 and report.deletes_acknowledged > 20
    assert report.cut_off_by_kill > 0, "no kill landed while a request was in flight"
    assert report.exact_checks == 100 * 51 and report.count_checks == 51
