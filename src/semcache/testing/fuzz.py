"""Fuzzing a live server with schemathesis, driven by the server's own OpenAPI document.

`fuzz` runs ``st run`` (schemathesis, a test dependency) against a running
`ServerProcess` with every check schemathesis has, except one (see `EXCLUDED_CHECKS`).
Data API requests address the quick-start cache; with ``keys="right"`` they carry its key
(and admin requests the admin key), with ``keys="wrong"`` a mix of wrong ones: another
cache's key, a revoked key, an unknown key, the admin key, malformed headers. The report
counts every request schemathesis sent and every failure it found.

    with ServerProcess(tmp / "data") as server:
        report = fuzz(server, tmp / "fuzz", max_examples=20, seed=1)
    assert report.ok, report.explain()
"""

from __future__ import annotations

import base64
import collections
import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx

from semcache.testing.server import ServerProcess

__all__ = ["EXCLUDED_CHECKS", "FuzzReport", "fuzz", "revoked_admin_key"]

EXCLUDED_CHECKS = ("ensure_resource_availability",)
"""Checks left out, and why: ``ensure_resource_availability`` expects an entry to be
there right after it was stored, but schemathesis stores entries with a ``ttlMillis`` of
a few milliseconds, and other generated requests flush the cache or delete by attributes,
so an entry that has gone is the server keeping its word, not a fault."""


@dataclass
class FuzzReport:
    """What one ``st run`` sent and found."""

    requests: int = 0
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)
    exit_code: int = 0
    output: str = ""

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.failures and not self.server_errors

    def summary(self) -> str:
        shown = ", ".join(f"{status}: {n}" for status, n in sorted(self.statuses.items()))
        return (
            f"{self.requests} requests ({shown}); {self.server_errors} answered 5xx; "
            f"{len(self.failures)} check failures"
        )

    def explain(self) -> str:
        return "\n".join([self.summary(), *self.failures, self.output[-6000:]])


def fuzz(
    server: ServerProcess,
    work_dir: Path,
    *,
    max_examples: int,
    seed: int = 0,
    keys: Literal["right", "wrong"] = "right",
    workers: int = 1,
) -> FuzzReport:
    """Run schemathesis against ``server``, first on the data API, then on the rest.

    The admin API comes last because, with the right key, schemathesis deletes what it
    finds there, the fuzzed cache and its key included.

    Args:
        work_dir: where the configuration and the reports are written.
        max_examples: test cases per operation and phase.
        seed: makes the generated requests reproducible.
        keys: "right" for the keys the requests need, "wrong" for wrong ones.
        workers: concurrent schemathesis workers.
    """
    work_dir = work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    config = work_dir / "schemathesis.toml"
    config.write_text(_config(server.quickstart["CACHE_ID"]))
    env = {
        **os.environ,
        **_authorizations(server, keys),
        "SCHEMATHESIS_HOOKS": "semcache.testing.fuzz_hooks",
    }
    report = FuzzReport()
    for part, paths in (("data", "^/(?!admin/)"), ("admin", "^/admin/")):
        report_path = work_dir / f"report-{part}-{keys}-{seed}.ndjson"
        command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config)]
        command += ["run", f"{server.url}/openapi.json", "--include-path-regex", paths]
        command += ["--checks", "all", "--exclude-checks", ",".join(EXCLUDED_CHECKS)]
        command += ["--max-examples", str(max_examples), "--seed", str(seed)]
        command += ["--workers", str(workers), "--max-failures", "50"]
        command += ["--report", "ndjson", "--report-ndjson-path", str(report_path)]
        done = subprocess.run(
            command, env=env, cwd=work_dir, capture_output=True, text=True, timeout=3600
        )
        _read_report(report_path, report)
        report.exit_code = report.exit_code or done.returncode
        report.output += done.stdout + done.stderr
    return report


def _config(cache_id: str) -> str:
    # Data API requests must address the cache their key belongs to; admin requests are
    # left free, so that the stateful phase can follow a created cache to its own paths.
    # An explained search of a cache whose embedder is an endpoint schemathesis made up is
    # a 424 (the model is unreachable), as that cache's own searches would be; one with
    # attributes the explained cache does not declare is a 400, which no schema of the
    # request can foresee, as it depends on the cache.
    explain = '"2xx", "3xx", "400", "401", "403", "404", "409", "424", "429", "5xx"'
    return (
        f'[[operations]]\ninclude-path-regex = "^/v1/"\nparameters = {{ cacheId = "{cache_id}" }}\n'
        f'\n[[operations]]\ninclude-path-regex = "/explain$"\n'
        f"checks.positive_data_acceptance.expected-statuses = [{explain}]\n"
    )


def _authorizations(server: ServerProcess, keys: str) -> dict[str, str]:
    data_key, admin_key = server.quickstart["API_KEY"], server.admin_key
    if keys == "right":
        return {"FUZZ_DATA_AUTH": f"Bearer {data_key}", "FUZZ_ADMIN_AUTH": f"Bearer {admin_key}"}
    other_key, revoked_key, revoked_admin = _wrong_keys(server)
    unknown = f"sc_{secrets.token_hex(8)}_{secrets.token_hex(32)}"
    malformed = [
        f"Basic {base64.b64encode(b'user:password').decode()}",
        "Bearer",
        f"Bearer {data_key[:-1]}",
        f"Token {data_key}",
    ]
    data = [other_key, revoked_key, admin_key, unknown]
    admin = [data_key, other_key, revoked_admin, unknown]
    return {
        "FUZZ_DATA_AUTH": "\n".join([*(f"Bearer {k}" for k in data), *malformed]),
        "FUZZ_ADMIN_AUTH": "\n".join([*(f"Bearer {k}" for k in admin), *malformed]),
    }


def _wrong_keys(server: ServerProcess) -> tuple[str, str, str]:
    """Another cache's key, a revoked key of the fuzzed cache, and a revoked admin key."""
    cache_id = server.quickstart["CACHE_ID"]
    admin = {"Authorization": f"Bearer {server.admin_key}"}
    with httpx.Client(base_url=server.url, headers=admin, verify=server.verify) as client:
        other = client.post("/admin/v1/caches", json={"name": "another tenant"}).json()["id"]
        other_key = client.post(f"/admin/v1/caches/{other}/keys").json()["apiKey"]
        revoked = client.post(f"/admin/v1/caches/{cache_id}/keys").json()
        client.delete(f"/admin/v1/keys/{revoked['keyId']}").raise_for_status()
    revoked_admin = revoked_admin_key(server)
    return other_key, revoked["apiKey"], revoked_admin


def revoked_admin_key(server: ServerProcess) -> str:
    """An admin key made with the CLI (the admin API makes none) and revoked at once."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "semcache",
            "keys",
            "create",
            "--admin",
            "--data-dir",
            str(server.data_dir),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    secret = done.stdout.strip()
    key_id = secret.split("_")[1]
    admin = {"Authorization": f"Bearer {server.admin_key}"}
    revoked = httpx.delete(
        f"{server.url}/admin/v1/keys/{key_id}", headers=admin, verify=server.verify
    )
    revoked.raise_for_status()
    return secret


def _read_report(path: Path, report: FuzzReport) -> None:
    if not path.exists():
        return
    for line in path.read_text().splitlines():
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if finished is None:
            continue
        recorder = finished["recorder"]
        for interaction in (recorder.get("interactions") or {}).values():
            report.requests += 1
            response = interaction.get("response")
            if response is not None:
                report.statuses[response["status_code"]] += 1
        for checks in (recorder.get("checks") or {}).values():
            for check in checks:
                if check["status"] == "failure":
                    failure = check.get("failure_info") or {}
                    report.failures.append(f"{recorder['label']}: {check['name']} {failure}")
