from __future__ import annotations

import os

from semcache.config import Settings


def test_workers_share_the_cores_among_their_models() -> None:
    cores = os.cpu_count() or 1
    assert Settings(workers=1).model_threads == cores
    assert Settings(workers=2).model_threads == max(1, cores // 2)
    assert Settings(workers=4 * cores).model_threads == 1


def test_a_threads_setting_is_used_as_given() -> None:
    assert Settings(workers=2, threads=3).model_threads == 3
