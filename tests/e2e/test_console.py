"""The web console in a real headless Chromium, against a real server process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from semcache.testing.server import ServerProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

STORED = {
    "How do I reset my password?": "Use the reset link on the sign-in page.",
    "What is the capital of France?": "Paris.",
    "How many legs does a spider have?": "Eight.",
}
SEARCHES = [
    "How do I reset my password?",  # hit
    "What is the capital of France?",  # hit
    "Which programming language should I learn first?",  # miss
    "Best pizza topping?",  # miss
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("console") / "data"
    # Hits decided by cosine similarity alone, so that what the page shows is known here.
    args = ["--setting", "stats_flush_seconds", "0.2", "--setting", "verifier", "off"]
    with ServerProcess(data_dir, args=args) as running:
        yield running


@pytest.fixture(scope="module")
def cache_id(server: ServerProcess) -> str:
    """A cache holding three entries, searched four times (two hits), with its statistics
    already saved."""
    admin = {"Authorization": f"Bearer {server.admin_key}"}
    with httpx.Client(base_url=server.url, headers=admin) as client:
        cache = client.post("/admin/v1/caches", json={"name": "support"}).json()
        key = client.post(f"/admin/v1/caches/{cache['id']}/keys").json()["apiKey"]
        user = {"Authorization": f"Bearer {key}"}
        data = f"/v1/caches/{cache['id']}/entries"
        for prompt, response in STORED.items():
            client.post(data, json={"prompt": prompt, "response": response}, headers=user)
        for prompt in SEARCHES:
            client.post(f"{data}/search", json={"prompt": prompt}, headers=user)
        deadline = time.monotonic() + 20
        while client.get(f"/admin/v1/caches/{cache['id']}/stats").json()["searches"] < 4:
            assert time.monotonic() < deadline, "statistics were not saved"
            time.sleep(0.1)
    return str(cache["id"])


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/install does)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path / "profile",
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1200, "height": 900},
        )
        errors: list[str] = []
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if _unexpected(m.type, m.text) else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        yield page
        context.close()
        assert errors == []


def _unexpected(kind: str, text: str) -> bool:
    """An error in the page's console other than a refused request (a wrong key's 401):
    a script error, or anything the Content-Security-Policy blocked."""
    return kind == "error" and not (text.startswith("Failed to load resource") and "40" in text)


def _sign_in(page: Page, server: ServerProcess, key: str) -> None:
    page.goto(f"{server.url}/console")
    page.fill("input[name=adminKey]", key)
    page.click("#login button[type=submit]")


def test_a_wrong_key_is_refused(page: Page, server: ServerProcess) -> None:
    _sign_in(page, server, "sc_0000000000000000_" + "0" * 64)
    expect(page.locator("#login .error")).to_contain_text("failed")
    expect(page.locator("#caches")).to_have_count(0)


def test_sign_in_read_charts_explain_and_delete(
    page: Page, server: ServerProcess, cache_id: str
) -> None:
    _sign_in(page, server, server.admin_key)
    row = page.locator(f"#caches tr[data-cache='{cache_id}']")
    expect(row).to_contain_text("support")
    row.get_by_role("link").click()

    # The overview: the searches chart's bars add up to the four searches.
    bars = page.locator("figure[data-chart=searches] rect.bar")
    expect(bars.first).to_be_visible()
    assert sum(float(v) for v in bars.evaluate_all("bs => bs.map(b => b.dataset.value)")) == 4
    expect(page.locator(".tile[data-stat=hitRatio] .value")).to_have_text("50.0%")
    expect(page.locator(".tile[data-stat=items] .value")).to_have_text("3")
    admin = {"Authorization": f"Bearer {server.admin_key}"}
    stats = httpx.get(f"{server.url}/admin/v1/caches/{cache_id}/stats", headers=admin).json()
    threshold = page.locator("figure[data-chart=similarity] line.threshold")
    assert float(threshold.get_attribute("data-threshold") or "nan") == stats["threshold"]
    similarities = page.locator("figure[data-chart=similarity] rect.bar")
    assert sum(float(v) for v in similarities.evaluate_all("r => r.map(b => b.dataset.value)")) == 4
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "console-overview.png", full_page=True)

    # The playground: a stored prompt reworded is a hit, explained candidate by candidate.
    page.click("nav.tabs >> text=Playground")
    page.fill("#playground textarea[name=prompt]", "how can I reset my password")
    page.click("#playground button[type=submit]")
    expect(page.locator("#decision")).to_have_text("Hit")
    first = page.locator("#candidates tbody tr").first
    expect(first).to_have_attribute("data-decision", "hit")
    expect(first).to_contain_text("How do I reset my password?")
    expect(page.locator("#candidates tr[data-decision=not-considered]")).to_have_count(2)
    page.screenshot(path=ARTIFACTS / "console-playground.png", full_page=True)
    page.fill("#playground textarea[name=prompt]", "What is the tallest mountain on Earth?")
    page.click("#playground button[type=submit]")
    expect(page.locator("#decision")).to_have_text("Miss")

    # The entries: delete one, and the server no longer has it.
    page.click("nav.tabs >> text=Entries")
    rows = page.locator("#entries tbody tr")
    expect(rows).to_have_count(3)
    target = page.locator("#entries tr", has_text="spider")
    target.get_by_role("button", name="Delete").click()
    expect(rows).to_have_count(2)
    shown = httpx.get(f"{server.url}/admin/v1/caches/{cache_id}", headers=admin).json()
    assert shown["entries"] == 2
    page.screenshot(path=ARTIFACTS / "console-entries.png", full_page=True)


def test_create_a_cache_and_a_key(page: Page, server: ServerProcess) -> None:
    _sign_in(page, server, server.admin_key)
    page.fill("#new-cache input[name=name]", "made in the browser")
    page.fill("#new-cache input[name=threshold]", "0.9")
    page.click("#new-cache button[type=submit]")
    expect(page.locator("h1")).to_have_text("made in the browser")
    page.click("nav.tabs >> text=Keys")
    page.fill("#new-key input[name=label]", "from the console")
    page.click("#new-key button[type=submit]")
    secret = page.locator("#issued .secret")
    expect(secret).to_contain_text("sc_")
    cache_id = page.url.split("/caches/")[1].split("/")[0]
    search = httpx.post(
        f"{server.url}/v1/caches/{cache_id}/entries/search",
        json={"prompt": "anything"},
        headers={"Authorization": f"Bearer {secret.inner_text().strip()}"},
    )
    assert search.status_code == 200
    expect(page.locator("#keys tbody tr")).to_have_count(1)
