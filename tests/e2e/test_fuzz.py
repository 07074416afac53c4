"""schemathesis against a live server, from the server's own OpenAPI document: no 5xx, and
no answer that breaks the document. The long run is ``bench/fuzz.py``."""

from __future__ import annotations

from pathlib import Path

from semcache.testing.fuzz import fuzz
from semcache.testing.server import ServerProcess


def test_fuzzing_with_wrong_then_right_keys(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "data") as server:
        wrong = fuzz(server, tmp_path / "fuzz", max_examples=5, seed=1, keys="wrong")
        assert wrong.ok, wrong.explain()
        assert wrong.requests > 200
        assert {s for s in wrong.statuses if s < 300} == {200}  # the public routes only
        right = fuzz(server, tmp_path / "fuzz", max_examples=10, seed=2, keys="right")
        assert right.ok, right.explain()
        assert right.requests > 300
        assert {200, 201, 204, 400, 404} <= set(right.statuses)
