"""Tenant isolation over real HTTP: every endpoint against every kind of credential, and no
entry of one cache ever reaching another cache's key."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from semcache.testing.fuzz import revoked_admin_key
from semcache.testing.server import ServerProcess

ERROR_FIELDS = {"type", "title", "status", "detail", "instance"}
UNAUTHENTICATED = "/errors/authentication-failed"
FORBIDDEN = "/errors/insufficient-permissions"

# A body each operation accepts, so that only the credential decides the answer.
BODIES: dict[str, object] = {
    "search": {"prompt": "What is the capital of France?"},
    "ConversationalSearch": {"prompt": "And of Spain?", "context": ["Capital of France?"]},
    "set": {"prompt": "Capital of Italy?", "response": "Rome", "attributes": {"topic": "geo"}},
    "deleteQuery": {"attributes": {"topic": "geo"}},
    "createCache": {"name": "made by the matrix"},
    "createKey": {"label": "made by the matrix"},
    "explainSearch": {"prompt": "What is the capital of France?"},
}


@dataclass
class Tenants:
    """Two caches with a key each, a revoked key, a revoked admin key and the admin key."""

    server: ServerProcess
    cache_a: str
    key_a: str
    cache_b: str
    key_b: str
    revoked_a: str
    revoked_admin: str

    @property
    def admin_key(self) -> str:
        return self.server.admin_key

    def admin(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.url, headers={"Authorization": f"Bearer {self.admin_key}"}
        )

    def data(self, cache_id: str, key: str) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.server.url}/v1/caches/{cache_id}",
            headers={"Authorization": f"Bearer {key}"},
        )


def _new_cache(admin: httpx.Client, **spec: object) -> tuple[str, str, str]:
    cache_id = admin.post("/admin/v1/caches", json=spec).json()["id"]
    key = admin.post(f"/admin/v1/caches/{cache_id}/keys").json()
    return cache_id, key["apiKey"], key["keyId"]


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    data_dir = tmp_path_factory.mktemp("isolation") / "data"
    with ServerProcess(data_dir) as server:
        admin = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {server.admin_key}"}
        )
        with admin:
            cache_a, key_a, _ = _new_cache(admin, name="tenant a")
            cache_b, key_b, _ = _new_cache(admin, name="tenant b")
            issued = admin.post(f"/admin/v1/caches/{cache_a}/keys").json()
            assert admin.delete(f"/admin/v1/keys/{issued['keyId']}").status_code == 204
        revoked_admin = revoked_admin_key(server)
        yield Tenants(server, cache_a, key_a, cache_b, key_b, issued["apiKey"], revoked_admin)


# the auth matrix


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # as in the OpenAPI document: /v1/caches/{cacheId}/...
    operation_id: str
    success: int | None  # None: not described in full, any status but a refusal will do
    public: bool
    tag: str

    @property
    def api(self) -> str:
        if self.public:
            return "public"
        return "admin" if self.tag == "admin" else "data"


def endpoints(server: ServerProcess) -> list[Endpoint]:
    """Every operation the server's OpenAPI document lists (it is built from the routes)."""
    document = httpx.get(f"{server.url}/openapi.json").json()
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            statuses = [int(s) for s in operation["responses"] if s.isdigit()]
            described = "default" not in operation["responses"]
            success = min(s for s in statuses if s < 300) if described else None
            public = operation.get("security") == []
            tag = operation["tags"][0]
            found.append(
                Endpoint(method.upper(), path, operation["operationId"], success, public, tag)
            )
    return found


CREDENTIALS = ["no key", "malformed", "unknown key", "revoked key", "other cache's key"]
CREDENTIALS += ["admin key", "own key"]


def authorization(tenants: Tenants, endpoint: Endpoint, credential: str) -> str | None:
    admin_api = endpoint.api == "admin"
    return {
        "no key": None,
        "malformed": f"Basic {tenants.key_a}",
        "unknown key": f"Bearer sc_{secrets.token_hex(8)}_{secrets.token_hex(32)}",
        "revoked key": f"Bearer {tenants.revoked_admin if admin_api else tenants.revoked_a}",
        "other cache's key": f"Bearer {tenants.key_b}",
        "admin key": f"Bearer {tenants.admin_key}",
        "own key": f"Bearer {tenants.admin_key if admin_api else tenants.key_a}",
    }[credential]


def expected_status(endpoint: Endpoint, credential: str) -> int | None:
    if endpoint.public or credential == "own key":
        return endpoint.success
    if credential in ("no key", "malformed", "unknown key", "revoked key"):
        return 401
    if endpoint.api == "admin" and credential == "admin key":
        return endpoint.success
    return 403


def concrete_path(tenants: Tenants, endpoint: Endpoint, may_succeed: bool) -> str:
    """The endpoint's path for cache A; what a successful call would destroy is made anew."""
    values: dict[str, str] = {"cacheId": tenants.cache_a, "keyId": secrets.token_hex(8)}
    with tenants.admin() as admin:
        if may_succeed and endpoint.operation_id in ("deleteCache", "revokeKey"):
            values["cacheId"], _, values["keyId"] = _new_cache(admin, name="throwaway")
    if "{entryId}" in endpoint.path:
        with tenants.data(tenants.cache_a, tenants.key_a) as client:
            stored = client.post("/entries", json={"prompt": "doomed", "response": "x"})
            values["entryId"] = stored.json()["entryId"]
    return re.sub(r"{(\w+)}", lambda m: values.get(m[1], "x"), endpoint.path)


def assert_error_body(response: httpx.Response, status: int) -> None:
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == ERROR_FIELDS, body
    assert body["status"] == status
    assert body["type"] == {401: UNAUTHENTICATED, 403: FORBIDDEN}[status]
    assert body["instance"] == response.request.url.path


def check_endpoint(tenants: Tenants, endpoint: Endpoint) -> list[str]:
    mismatches = []
    for credential in CREDENTIALS:
        expected = expected_status(endpoint, credential)
        path = concrete_path(tenants, endpoint, expected is None or expected < 300)
        header = authorization(tenants, endpoint, credential)
        response = httpx.request(
            endpoint.method,
            f"{tenants.server.url}{path}",
            json=BODIES.get(endpoint.operation_id),
            headers={} if header is None else {"Authorization": header},
        )
        if expected is None:
            if response.status_code in (401, 403) or response.status_code >= 500:
                mismatches.append(f"{credential}: {response.status_code}, expected an answer")
        elif response.status_code != expected:
            mismatches.append(f"{credential}: {response.status_code}, expected {expected}")
        elif expected in (401, 403):
            assert_error_body(response, expected)
    return mismatches


def test_every_endpoint_against_every_credential(tenants: Tenants) -> None:
    found = endpoints(tenants.server)
    secured = [e for e in found if not e.public]
    assert {e.api for e in secured} == {"data", "admin"}
    assert len(secured) >= 13
    failures = {
        f"{e.method} {e.path}": problems for e in found if (problems := check_endpoint(tenants, e))
    }
    assert not failures, failures
    print(f"auth matrix: {len(found)} endpoints x {len(CREDENTIALS)} credentials")


# no entry crosses caches

PROMPTS = [
    ("How do I reset my password?", {"lang": "en", "user": "u1"}),
    ("What are your opening hours?", {"lang": "en", "user": "u2"}),
    ("Wie setze ich mein Passwort zurück?", {"lang": "de", "user": "u1"}),
]


@pytest.fixture
def twins(tenants: Tenants) -> Iterator[Callable[[str], httpx.Client]]:
    """Caches A and B hold the same prompts with the same attributes, answered differently."""
    clients = {
        "a": tenants.data(tenants.cache_a, tenants.key_a),
        "b": tenants.data(tenants.cache_b, tenants.key_b),
    }
    for name, client in clients.items():
        assert client.post("/flush").status_code == 204
        for prompt, attributes in PROMPTS:
            body = {"prompt": prompt, "response": f"{name}: {prompt}", "attributes": attributes}
            assert client.post("/entries", json=body).status_code == 201
    yield clients.__getitem__
    for client in clients.values():
        client.close()


def responses(client: httpx.Client, path: str = "/entries/search", **body: object) -> list[str]:
    reply = client.post(path, json={"maxResults": 100, "similarityThreshold": 0.0, **body})
    assert reply.status_code == 200, reply.text
    return [hit["response"] for hit in reply.json()["data"]]


@pytest.mark.parametrize(
    "strategies", [["semantic"], ["exact"], ["exact", "semantic"]], ids=lambda s: "+".join(s)
)
def test_searches_only_ever_see_their_own_cache(twins, strategies: list[str]) -> None:
    for name in "ab":
        client = twins(name)
        for prompt, attributes in PROMPTS:
            for filters in ({}, attributes):
                found = responses(
                    client, prompt=prompt, searchStrategies=strategies, attributes=filters
                )
                assert found and all(r.startswith(f"{name}: ") for r in found), found
        conversational = responses(
            client, "/conversations/search", prompt=PROMPTS[0][0], context=["earlier"]
        )
        assert conversational and all(r.startswith(f"{name}: ") for r in conversational)
        everything = responses(client, prompt="anything at all")
        assert sorted(everything) == sorted(f"{name}: {p}" for p, _ in PROMPTS)


def test_deletes_count_and_touch_only_their_own_cache(twins, tenants: Tenants) -> None:
    a, b = twins("a"), twins("b")
    deleted = a.request("DELETE", "/entries", json={"attributes": {"lang": "en"}})
    assert deleted.json() == {"deletedEntriesCount": 2}
    assert len(responses(b, prompt="x", attributes={"lang": "en"})) == 2
    # Entry IDs depend on the prompt and attributes only, so both caches use the same ones.
    again = {"prompt": PROMPTS[2][0], "response": "again", "attributes": PROMPTS[2][1]}
    entry_id = b.post("/entries", json=again).json()["entryId"]
    assert a.delete(f"/entries/{entry_id}").status_code == 204
    assert a.delete(f"/entries/{entry_id}").status_code == 404
    assert responses(b, prompt=PROMPTS[2][0], searchStrategies=["exact"]) == ["again"]
    assert a.post("/flush").status_code == 204
    assert len(responses(b, prompt="x")) == 3
    with tenants.admin() as admin:
        assert admin.get(f"/admin/v1/caches/{tenants.cache_a}").json()["entries"] == 0
        assert admin.get(f"/admin/v1/caches/{tenants.cache_b}").json()["entries"] == 3


def test_a_key_on_another_caches_path_reaches_nothing(twins, tenants: Tenants) -> None:
    with tenants.data(tenants.cache_b, tenants.key_a) as wrong:
        for method, path, body in [
            ("POST", "/entries/search", {"prompt": PROMPTS[0][0], "searchStrategies": ["exact"]}),
            ("POST", "/conversations/search", {"prompt": PROMPTS[0][0]}),
            ("POST", "/entries", {"prompt": "planted", "response": "by a"}),
            ("DELETE", "/entries", {"attributes": {"lang": "en"}}),
            ("POST", "/flush", None),
        ]:
            response = wrong.request(method, path, json=body)
            assert response.status_code == 403, (method, path, response.text)
            assert PROMPTS[0][0] not in response.text
    assert len(responses(twins("b"), prompt="x")) == 3


def test_the_admin_api_can_be_served_on_its_own_address(tmp_path: Path) -> None:
    """The public server runs without the admin API; a second one, on loopback, over the
    same data directory, serves it, and what it does is seen by the public one at once."""
    data_dir = tmp_path / "data"
    public = ServerProcess(data_dir, args=["--host", "0.0.0.0", "--setting", "admin_api", "false"])
    with public, ServerProcess(data_dir, args=["--host", "127.0.0.1"]) as private:
        admin = {"Authorization": f"Bearer {private.admin_key}"}
        assert httpx.get(f"{public.url}/admin/v1/caches", headers=admin).status_code == 404
        paths = httpx.get(f"{public.url}/openapi.json").json()["paths"]
        assert not [path for path in paths if path.startswith("/admin/")]
        cache_id = public.quickstart["CACHE_ID"]
        issued = httpx.post(f"{private.url}/admin/v1/caches/{cache_id}/keys", headers=admin)
        with httpx.Client(
            base_url=f"{public.url}/v1/caches/{cache_id}",
            headers={"Authorization": f"Bearer {issued.json()['apiKey']}"},
        ) as tenant:
            assert tenant.post("/entries/search", json={"prompt": "x"}).status_code == 200
