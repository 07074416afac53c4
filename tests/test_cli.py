from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from semcache.cli import cli


@pytest.fixture
def invoke(tmp_path: Path):
    runner = CliRunner()

    def run(*args: str, ok: bool = True):
        result = runner.invoke(cli, [*args], env={"SEMCACHE_DATA_DIR": str(tmp_path / "data")})
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return run


def test_caches_are_created_listed_shown_and_deleted(invoke) -> None:
    created = json.loads(
        invoke(
            "caches", "create", "--name", "docs", "--attribute", "lang", "--threshold", "0.9"
        ).stdout
    )
    assert created["attributes"] == ["lang"] and created["similarityThreshold"] == 0.9
    assert created["embedder"] == "all-MiniLM-L6-v2"
    listed = json.loads(invoke("caches", "list").stdout)
    assert [cache["id"] for cache in listed] == [created["id"]]
    shown = json.loads(invoke("caches", "show", created["id"]).stdout)
    assert shown["entries"] == 0
    invoke("caches", "delete", created["id"], "--yes")
    assert json.loads(invoke("caches", "list").stdout) == []


def test_cache_options_are_checked(invoke) -> None:
    assert invoke("caches", "create", "--attribute", "a b", ok=False).exit_code == 1
    both = invoke("caches", "create", "--attribute", "a", "--no-attributes", ok=False)
    assert both.exit_code == 2
    missing = invoke("caches", "show", "nosuch", ok=False)
    assert missing.exit_code == 1 and "not found" in missing.output


def test_keys_are_shown_once_listed_without_secrets_and_revoked(invoke) -> None:
    cache_id = json.loads(invoke("caches", "create", "--no-attributes").stdout)["id"]
    created = invoke("keys", "create", cache_id, "--label", "app")
    secret = created.stdout.strip()
    assert secret.startswith("sc_")
    [listed] = json.loads(invoke("keys", "list", cache_id).stdout)
    assert listed["label"] == "app" and listed["revokedAt"] is None
    assert secret not in invoke("keys", "list").stdout
    invoke("keys", "revoke", listed["keyId"])
    assert json.loads(invoke("keys", "list", cache_id).stdout)[0]["revokedAt"] is not None
    assert invoke("keys", "revoke", listed["keyId"], ok=False).exit_code == 1


def test_admin_keys(invoke) -> None:
    assert invoke("keys", "create", "--admin").stdout.startswith("sc_")
    assert invoke("keys", "create", ok=False).exit_code == 2


def test_help_settings_lists_every_setting(invoke) -> None:
    output = invoke("serve", "--help-settings").stdout
    for name in ("data_dir", "max_body_bytes", "SEMCACHE_PORT"):
        assert name in output


def test_bad_settings_name_the_variable(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["caches", "list"], env={"SEMCACHE_DATA_DIR": str(tmp_path), "SEMCACHE_PORT": "x"}
    )
    assert result.exit_code == 1 and "SEMCACHE_PORT" in result.output
