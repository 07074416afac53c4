from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from semcache.core.admin import CacheSpec
from semcache.core.services import Services
from semcache.embedding.registry import EmbedderRegistry
from semcache.errors import AuthenticationFailed, CacheNotFound, KeyNotFound, PermissionDenied
from semcache.store.registry import open_store
from semcache.testing.fakes import FakeEmbedder

pytestmark = pytest.mark.anyio


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    embedders = EmbedderRegistry()
    embedders.register("fake", FakeEmbedder())
    built = Services.build(await open_store(str(tmp_path)), embedders, default_embedder="fake")
    yield built
    await built.close()


async def test_a_key_opens_its_own_cache_only(services: Services) -> None:
    mine = await services.admin.create(CacheSpec())
    other = await services.admin.create(CacheSpec())
    issued = await services.keys.issue(mine.id)
    header = f"Bearer {issued.secret}"
    assert (await services.keys.authorize_cache(header, mine.id)).id == mine.id
    assert (await services.keys.authorize_cache(f"bearer  {issued.secret} ", mine.id)).id
    with pytest.raises(PermissionDenied):
        await services.keys.authorize_cache(header, other.id)
    with pytest.raises(PermissionDenied):
        await services.keys.authorize_admin(header)


async def test_only_a_digest_is_stored(services: Services) -> None:
    cache = await services.admin.create(CacheSpec())
    issued = await services.keys.issue(cache.id, label="ci")
    record = await services.store.get_key(issued.record.id)
    assert record is not None and record.label == "ci"
    secret_part = issued.secret.rsplit("_", 1)[1]
    assert secret_part.encode() not in record.digest + record.salt
    assert len(record.digest) == 32 and len(record.salt) == 16


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-key",
        "Bearer sc_0123456789abcdef_" + "0" * 64,
    ],
)
async def test_missing_malformed_or_unknown_keys_fail(services: Services, header) -> None:
    cache = await services.admin.create(CacheSpec())
    with pytest.raises(AuthenticationFailed):
        await services.keys.authorize_cache(header, cache.id)


async def test_a_right_id_with_a_wrong_secret_fails(services: Services) -> None:
    cache = await services.admin.create(CacheSpec())
    issued = await services.keys.issue(cache.id)
    forged = issued.secret[:-4] + ("0000" if not issued.secret.endswith("0000") else "1111")
    with pytest.raises(AuthenticationFailed):
        await services.keys.authorize_cache(f"Bearer {forged}", cache.id)


async def test_revoked_keys_fail_at_once(services: Services) -> None:
    cache = await services.admin.create(CacheSpec())
    issued = await services.keys.issue(cache.id)
    await services.keys.revoke(issued.record.id)
    with pytest.raises(AuthenticationFailed):
        await services.keys.authorize_cache(f"Bearer {issued.secret}", cache.id)
    with pytest.raises(KeyNotFound):
        await services.keys.revoke(issued.record.id)


async def test_admin_keys_open_the_admin_api_only(services: Services) -> None:
    cache = await services.admin.create(CacheSpec())
    admin = await services.keys.issue(None)
    assert (await services.keys.authorize_admin(f"Bearer {admin.secret}")).cache_id is None
    with pytest.raises(PermissionDenied):
        await services.keys.authorize_cache(f"Bearer {admin.secret}", cache.id)


async def test_keys_for_unknown_caches_are_refused(services: Services) -> None:
    with pytest.raises(CacheNotFound):
        await services.keys.issue("nosuchcache")


async def test_deleting_a_cache_deletes_its_keys(services: Services) -> None:
    cache = await services.admin.create(CacheSpec())
    issued = await services.keys.issue(cache.id)
    await services.admin.delete(cache.id)
    with pytest.raises(AuthenticationFailed):
        await services.keys.authorize_cache(f"Bearer {issued.secret}", cache.id)
