"""The examples of the LangCache API page run as written, over HTTPS, with the quick-start values.

Each language's examples run in the page's order (search, store, delete, flush) with the
authentication snippet in front. The one placeholder, ``<entryId>``, becomes the ID of the
entry the store example made.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from semcache.testing.server import ServerProcess

HERE = Path(__file__).parent
SEED = json.loads((HERE / "seed" / "langcache-api-examples.json").read_text())
JS_DIR = HERE / "js"
STORED_ID = hashlib.md5(b"User prompt text").hexdigest()

# The page's JavaScript delete example passes {entryId} where the SDK (0.11.0 and 0.11.1,
# the only releases) takes the ID itself; the SDK refuses it before sending anything. That
# example is run as written and must fail in the client; the call as the SDK defines it
# then runs in its place.
JS_CLIENT_SIDE_FAULT = "delete-cached-responses-ex1"
JS_FAULTY_CALL = 'deleteById({\n      entryId: "<entryId>",\n    })'
JS_SDK_CALL = 'deleteById("<entryId>")'


def examples(language: str) -> list[tuple[str, str]]:
    return [
        (example["id"], example["code"].replace("<entryId>", STORED_ID))
        for example in SEED["examples"]
        if example["language"] == language and example["section_id"] != "authentication"
    ]


def prelude(language: str) -> str:
    return next(
        example["code"]
        for example in SEED["examples"]
        if example["language"] == language and example["section_id"] == "authentication"
    )


@pytest.fixture(scope="module", params=["trustme", "local-ca"])
def https_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    """A server over HTTPS, and the environment a user's shell would have for the examples."""
    directory = tmp_path_factory.mktemp(request.param)
    if request.param == "trustme":
        ca = trustme.CA()
        cert = ca.issue_cert("localhost", "127.0.0.1")
        paths = (directory / "cert.pem", directory / "key.pem", directory / "ca.pem")
        cert.private_key_and_cert_chain_pem.write_to_path(str(paths[0]))
        cert.private_key_pem.write_to_path(str(paths[1]))
        ca.cert_pem.write_to_path(str(paths[2]))
        server = ServerProcess(directory / "data", tls=paths)
    else:
        server = ServerProcess(directory / "data", tls="auto")
    with server:
        values = server.quickstart
        env = {name: values[name] for name in ("HOST", "CACHE_ID", "API_KEY")}
        if request.param == "trustme":
            ca_file = str(server.ca_file)
            env |= {"SSL_CERT_FILE": ca_file, "CURL_CA_BUNDLE": ca_file}
            env |= {"NODE_EXTRA_CA_CERTS": ca_file}
        else:
            env |= {
                name: values[name]
                for name in ("SSL_CERT_FILE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS")
            }
        yield server, {**os.environ, **env}


def run(command: list[str], env: dict[str, str], cwd: Path | None = None) -> str:
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{command[:2]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_python_examples(https_server) -> None:
    _, env = https_server
    outputs = {}
    for example_id, code in examples("python"):
        outputs[example_id] = run([sys.executable, "-c", f"{prelude('python')}\n{code}"], env)
    assert STORED_ID in outputs["store-a-new-response-in-langcache-ex2"]
    assert "deleted_entries_count=1" in outputs["delete-cached-responses-ex5"]


@pytest.fixture(scope="module")
def node_modules() -> Path:
    if not (JS_DIR / "node_modules" / "@redis-ai" / "langcache").exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed to install the JavaScript SDK"
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, check=True)
    return JS_DIR / "node_modules"


def run_node(example_id: str, code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = JS_DIR / f"{example_id}.mjs"
    script.write_text(f"{prelude('javascript')}\n{code}\n")
    try:
        return subprocess.run(
            ["node", script.name], env=env, cwd=JS_DIR, capture_output=True, text=True, timeout=60
        )
    finally:
        script.unlink()


def test_javascript_examples(https_server, node_modules: Path) -> None:
    _, env = https_server
    outputs = {}
    for example_id, code in examples("javascript"):
        if example_id == JS_CLIENT_SIDE_FAULT:
            as_written = run_node(example_id, code, env)
            assert as_written.returncode != 0 and "SDKValidationError" in as_written.stderr
            code = code.replace(
                JS_FAULTY_CALL.replace("<entryId>", STORED_ID),
                JS_SDK_CALL.replace("<entryId>", STORED_ID),
            )
        done = run_node(example_id, code, env)
        assert done.returncode == 0, f"{example_id}:\n{done.stdout}\n{done.stderr}"
        outputs[example_id] = done.stdout
    assert STORED_ID in outputs["store-a-new-response-in-langcache-ex1"]
    assert "deletedEntriesCount: 1" in outputs["delete-cached-responses-ex4"]


def http_example_as_curl(code: str) -> list[str]:
    """``POST https://[host]/path`` and an optional JSON body, as the curl command it means."""
    request_line, _, body = code.partition("\n")
    method, url = request_line.split(" ", 1)
    url = url.replace("https://[host]", "https://$HOST").replace("{cacheId}", "$CACHE_ID")
    url = url.replace("{entryId}", STORED_ID)
    command = f'curl -s -X {method} "{url}" -H "accept: application/json" '
    command += '-H "Authorization: Bearer $API_KEY" -w "\\n%{http_code}"'
    if body.strip():
        command += f" -d '{body}'"
    return ["bash", "-c", command]


def test_curl_examples(https_server) -> None:
    _, env = https_server
    written = run(["bash", "-c", prelude("plaintext")], env)
    assert json.loads(written) == {"data": []}
    statuses = {}
    for example_id, code in examples("plaintext"):
        *_, status = run(http_example_as_curl(code), env).splitlines()
        statuses[example_id] = int(status)
    assert statuses == {
        "search-langcache-for-similar-responses-ex0": 200,
        "search-langcache-for-similar-responses-ex3": 200,
        "search-langcache-for-similar-responses-ex6": 200,
        "store-a-new-response-in-langcache-ex0": 201,
        "store-a-new-response-in-langcache-ex3": 201,
        "delete-cached-responses-ex0": 204,
        "delete-cached-responses-ex3": 200,
        "flush-the-cache-ex0": 204,
    }
