"""Limits and overload over real HTTP: body size, per-key rate limit, a bounded embedding
queue, and a request timeout well under the Python SDK's 5 s."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from langcache import LangCache
from langcache.errors import TooManyRequestsErrorResponseContent

from semcache.testing.server import ServerProcess

JS_DIR = Path(__file__).parent / "js"


def assert_error(response: httpx.Response, status: int, type_: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"type", "title", "status", "detail", "instance"}
    assert body["status"] == status and body["type"] == type_
    return body


def data_client(server: ServerProcess, key: str | None = None) -> httpx.Client:
    values = server.quickstart
    return httpx.Client(
        base_url=f"{server.url}/v1/caches/{values['CACHE_ID']}",
        headers={"Authorization": f"Bearer {key or values['API_KEY']}"},
    )


def test_oversized_bodies_get_the_documented_413(tmp_path: Path) -> None:
    with (
        ServerProcess(tmp_path / "data", args=["--setting", "max_body_bytes", "1000"]) as server,
        data_client(server) as client,
    ):
        response = client.post("/entries", json={"prompt": "x", "response": "y" * 2000})
        assert_error(response, 413, "/errors/payload-too-large")


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server allowing each key 2 requests a second, 3 at once."""
    settings = ["--setting", "rate_limit_per_second", "2", "--setting", "rate_limit_burst", "3"]
    with ServerProcess(tmp_path_factory.mktemp("limited") / "data", args=settings) as server:
        yield server


def exhaust(client: httpx.Client) -> httpx.Response:
    """Search until the key is refused; returns the refusal."""
    for _ in range(20):
        response = client.post("/entries/search", json={"prompt": "Am I too fast?"})
        if response.status_code != 200:
            return response
    raise AssertionError("never limited")


def test_a_key_over_its_rate_gets_429_with_retry_after(limited: ServerProcess) -> None:
    with data_client(limited) as client:
        time.sleep(2)  # a full bucket
        statuses = [client.post("/entries/search", json={"prompt": "x"}).status_code]
        statuses += [client.post("/entries/search", json={"prompt": "x"}).status_code]
        assert statuses == [200, 200]
        refused = exhaust(client)
        assert_error(refused, 429, "/errors/too-many-requests")
        wait = int(refused.headers["retry-after"])
        assert 1 <= wait <= 2
        admin = {"Authorization": f"Bearer {limited.admin_key}"}
        cache_id = limited.quickstart["CACHE_ID"]
        other = httpx.post(f"{limited.url}/admin/v1/caches/{cache_id}/keys", headers=admin)
        with data_client(limited, other.json()["apiKey"]) as second:
            assert second.post("/entries/search", json={"prompt": "x"}).status_code == 200
        time.sleep(wait)
        assert client.post("/entries/search", json={"prompt": "x"}).status_code == 200


def test_the_python_sdk_raises_its_typed_429(limited: ServerProcess) -> None:
    values = limited.quickstart
    cache = LangCache(
        server_url=limited.url, cache_id=values["CACHE_ID"], api_key=values["API_KEY"]
    )
    with cache, pytest.raises(TooManyRequestsErrorResponseContent) as raised:
        for _ in range(20):
            cache.search(prompt="Am I too fast?")
    assert raised.value.data.status == 429


def test_the_javascript_sdk_raises_its_typed_429(limited: ServerProcess) -> None:
    assert (JS_DIR / "node_modules" / "@redis-ai" / "langcache").exists()
    script = JS_DIR / "rate_limited.mjs"
    script.write_text(
        'import { LangCache } from "@redis-ai/langcache";\n'
        "const cache = new LangCache({ serverURL: process.env.URL,"
        " cacheId: process.env.CACHE_ID, apiKey: process.env.API_KEY });\n"
        "let outcome = 'never refused';\n"
        "for (let i = 0; i < 20 && outcome === 'never refused'; i++) {\n"
        "  try { await cache.search({ prompt: 'Am I too fast?' }); }\n"
        "  catch (error) { outcome = { name: error.constructor.name,"
        " status: error.statusCode, type: error.type }; }\n"
        "}\n"
        "console.log(JSON.stringify(outcome));\n"
    )
    values = limited.quickstart
    env = {"URL": limited.url, "CACHE_ID": values["CACHE_ID"], "API_KEY": values["API_KEY"]}
    try:
        done = subprocess.run(
            ["node", script.name], cwd=JS_DIR, env=env, capture_output=True, text=True, timeout=60
        )
    finally:
        script.unlink()
    assert json.loads(done.stdout) == {
        "name": "TooManyRequestsErrorResponseContent",
        "status": 429,
        "type": "/errors/too-many-requests",
    }, done.stderr


def test_without_a_setting_there_is_no_rate_limit(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "data") as server, data_client(server) as client:
        statuses = {client.post("/entries/search", json={"prompt": "x"}).status_code}
        statuses |= {
            client.post("/entries/search", json={"prompt": "x"}).status_code for _ in range(60)
        }
        assert statuses == {200}


async def timed_search(port: int, path: str, key: str, prompt: str) -> tuple[int, float, bytes]:
    """One search on a new connection, with a bare HTTP/1.1 client: a pool of 300 httpx
    connections would itself add seconds on this machine."""
    body = json.dumps({"prompt": prompt}).encode()
    request = (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request + body)
    reply = await reader.read()
    elapsed = time.monotonic() - started
    writer.close()
    return int(reply.split(b" ", 2)[1]), elapsed, reply


@pytest.mark.anyio
async def test_overload_is_shed_with_503_and_latency_stays_bounded(tmp_path: Path) -> None:
    """Far more concurrent searches than the model can embed at once: the excess is refused
    at once with a 503 and Retry-After, and no request waits past the timeout."""
    settings = ["--setting", "embedding_queue_size", "8", "--setting", "embedding_cache_size", "0"]
    settings += ["--setting", "request_timeout_seconds", "2"]
    with ServerProcess(tmp_path / "data", args=settings) as server:
        values = server.quickstart
        path = f"/v1/caches/{values['CACHE_ID']}/entries/search"
        results = await asyncio.gather(
            *(
                timed_search(server.port, path, values["API_KEY"], f"Distinct question {i}?")
                for i in range(300)
            )
        )
    statuses = [status for status, _, _ in results]
    assert set(statuses) <= {200, 503}
    assert statuses.count(503) > 0 and statuses.count(200) > 0
    for status, _, reply in results:
        if status == 503:
            head, _, body = reply.partition(b"\r\n\r\n")
            assert b"\r\nretry-after: 1\r\n" in head.lower()
            assert json.loads(body)["type"] == "/errors/unexpected-error"
    assert max(elapsed for _, elapsed, _ in results) < 2 + 1


class SlowEmbeddings:
    """An OpenAI-compatible endpoint that takes ``delay`` seconds to answer."""

    def __init__(self, delay: float) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(delay)
                self.send_response(500)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> SlowEmbeddings:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_slow_request_is_answered_503_at_the_timeout(tmp_path: Path) -> None:
    settings = ["--setting", "request_timeout_seconds", "1"]
    with (
        SlowEmbeddings(delay=4) as slow,
        ServerProcess(tmp_path / "data", args=settings) as server,
    ):
        admin = {"Authorization": f"Bearer {server.admin_key}"}
        spec = {"name": "slow", "embedder": f"openai:slow@{slow.url}"}
        cache_id = httpx.post(f"{server.url}/admin/v1/caches", json=spec, headers=admin)
        cache_id = cache_id.json()["id"]
        key = httpx.post(f"{server.url}/admin/v1/caches/{cache_id}/keys", headers=admin)
        started = time.monotonic()
        response = httpx.post(
            f"{server.url}/v1/caches/{cache_id}/entries/search",
            json={"prompt": "Will this take long?"},
            headers={"Authorization": f"Bearer {key.json()['apiKey']}"},
            timeout=10,
        )
        elapsed = time.monotonic() - started
        body = assert_error(response, 503, "/errors/unexpected-error")
        assert "took longer than 1 s" in body["detail"]
        assert response.headers["retry-after"] == "1"
        assert 1 <= elapsed < 2.5


def test_a_client_that_stops_sending_gets_503_not_a_hung_connection(tmp_path: Path) -> None:
    settings = ["--setting", "request_timeout_seconds", "1"]
    with ServerProcess(tmp_path / "data", args=settings) as server:
        values = server.quickstart
        head = (
            f"POST /v1/caches/{values['CACHE_ID']}/entries HTTP/1.1\r\n"
            f"Host: localhost\r\nAuthorization: Bearer {values['API_KEY']}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
            '{"prompt": '
        )
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            started = time.monotonic()
            sock.sendall(head.encode())
            reply = sock.recv(65536).decode()
            elapsed = time.monotonic() - started
        assert reply.startswith("HTTP/1.1 503"), reply
        assert 1 <= elapsed < 2.5
