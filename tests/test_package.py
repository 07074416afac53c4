from __future__ import annotations

import os
import subprocess
import sys

import pytest

PRINT_BLAS_THREADS = "import semcache, numpy, os; print(os.environ['OPENBLAS_NUM_THREADS'])"


@pytest.mark.parametrize(("given", "used"), [(None, "1"), ("4", "4")])
def test_blas_runs_one_thread_unless_told_otherwise(given: str | None, used: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if given is not None:
        env["OPENBLAS_NUM_THREADS"] = given
    done = subprocess.run(
        [sys.executable, "-c", PRINT_BLAS_THREADS], env=env, capture_output=True, text=True
    )
    assert done.stdout.strip() == used, done.stderr
