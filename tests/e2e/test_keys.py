"""API keys never reach the server's log, and the store keeps only salted digests."""

from __future__ import annotations

import base64
import secrets
import stat
from pathlib import Path

import httpx

from semcache.testing.server import ServerProcess


def test_keys_are_never_logged_nor_stored_in_the_clear(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", args=["--setting", "log_level", "debug"])
    with server:
        first_start = len(server.log())  # the quick-start key is printed there, by design
        admin = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {server.admin_key}"}
        )
        with admin:
            cache_id = admin.post("/admin/v1/caches", json={"name": "private"}).json()["id"]
            issued = admin.post(f"/admin/v1/caches/{cache_id}/keys").json()
            revoked = admin.post(f"/admin/v1/caches/{cache_id}/keys").json()
            admin.delete(f"/admin/v1/keys/{revoked['keyId']}")
            other = admin.post("/admin/v1/caches", json={"name": "other"}).json()["id"]
        key, unknown = issued["apiKey"], f"sc_{secrets.token_hex(8)}_{secrets.token_hex(32)}"
        secrets_sent = [key, revoked["apiKey"], unknown, server.admin_key]
        for secret in secrets_sent:
            for header in (
                f"Bearer {secret}",
                f"Basic {base64.b64encode(secret.encode()).decode()}",
                f"bearer  {secret}",
                secret,
            ):
                for path in (f"/v1/caches/{cache_id}", f"/v1/caches/{other}", "/admin/v1"):
                    httpx.post(
                        f"{server.url}{path}/entries/search",
                        json={"prompt": "Is my key safe?"},
                        headers={"Authorization": header},
                    )
                httpx.get(f"{server.url}/admin/v1/caches", headers={"Authorization": header})
    log = server.log()[first_start:]
    assert "/entries/search" in log  # the requests were logged
    stored = b"".join(path.read_bytes() for path in (tmp_path / "data").glob("semcache.db*"))
    for secret in secrets_sent:
        hidden = secret.split("_")[2]
        assert hidden not in log and secret not in log
        assert hidden.encode() not in stored and bytes.fromhex(hidden) not in stored


def test_the_data_directory_is_private_to_the_server_user(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with ServerProcess(data_dir, tls="auto") as server:
        values = server.quickstart
        httpx.post(
            f"{server.url}/v1/caches/{values['CACHE_ID']}/entries",
            json={"prompt": "private?", "response": "yes"},
            headers={"Authorization": f"Bearer {values['API_KEY']}"},
            verify=server.verify,
        ).raise_for_status()
        modes = {
            path.relative_to(data_dir).as_posix(): stat.S_IMODE(path.stat().st_mode)
            for path in [data_dir, *data_dir.rglob("*")]
        }
    assert {"semcache.db", "semcache.db-wal", "tls/ca-key.pem", "admin.key"} <= set(modes)
    shared = {name: oct(mode) for name, mode in modes.items() if mode & 0o077}
    assert not shared, shared


def test_a_shared_data_directory_is_warned_about(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    with ServerProcess(data_dir) as server:
        assert f"{data_dir} can be read by other users (mode 755)" in server.log()
