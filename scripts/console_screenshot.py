"""Take the README's screenshot of the console: ``docs/console.png``.

    .venv/bin/python scripts/console_screenshot.py [--out docs/console.png]

Starts a real server in a temporary directory, stores a few questions through the API,
adds a day of generated per-minute statistics to its store (so that the charts have a
history to show), searches a few times for real, and photographs the cache's overview in
Debian's headless Chromium.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from semcache.core.stats import LATENCY_BOUNDS_MS, MINUTE, latency_bucket, similarity_bucket
from semcache.store.base import StatsBucket
from semcache.store.sqlite import SQLiteStore
from semcache.testing.server import ServerProcess

QUESTIONS = [
    "How do I reset my password?",
    "How can I change the email address of my account?",
    "Where can I download my invoices?",
    "How do I cancel my subscription?",
    "Which payment methods do you accept?",
    "How do I invite a colleague to my team?",
    "Can I export my data as CSV?",
    "How do I turn on two-factor authentication?",
    "What are your support hours?",
    "How do I delete my account?",
]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
FLAGS += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _history(cache_id: str, now: int) -> list[StatsBucket]:
    """A day of plausible traffic: busier by day, a hit ratio that grows as the cache fills."""
    rng = random.Random(7)
    start = now - now % MINUTE - 24 * 60 * MINUTE
    buckets = []
    for minute in range(24 * 60 - 1):
        daylight = 0.5 + 0.5 * math.sin(2 * math.pi * (minute / (24 * 60) - 0.3))
        searches = max(0, int(rng.gauss(4 + 14 * daylight, 2)))
        hit_ratio = min(0.75, 0.25 + 0.5 * minute / (24 * 60))
        hits = sum(rng.random() < hit_ratio for _ in range(searches))
        latency = [0] * (len(LATENCY_BOUNDS_MS) + 1)
        similarity = [0] * 20
        total = 0.0
        for number in range(searches):
            ms = rng.lognormvariate(math.log(3.5), 0.45)
            total += ms
            latency[latency_bucket(ms)] += 1
            hit = number < hits
            nearest = rng.betavariate(18, 2) if hit else rng.betavariate(5, 4)
            similarity[similarity_bucket(nearest)] += 1
        buckets.append(
            StatsBucket(
                cache_id=cache_id,
                minute=start + minute * MINUTE,
                searches=searches,
                hits=hits,
                latency_ms_sum=total,
                latency_counts=tuple(latency),
                similarity_counts=tuple(similarity),
                items=min(len(QUESTIONS), 2 + minute // 150),
            )
        )
    return buckets


async def _record(directory: Path, buckets: list[StatsBucket]) -> None:
    store = await SQLiteStore.open(directory)
    try:
        await store.record_stats(buckets)
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/console.png"))
    out = parser.parse_args().out.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        with ServerProcess(data, args=["--setting", "stats_flush_seconds", "0.2"]) as server:
            admin = {"Authorization": f"Bearer {server.admin_key}"}
            with httpx.Client(base_url=server.url, headers=admin) as client:
                cache = client.post("/admin/v1/caches", json={"name": "support"}).json()
                key = client.post(f"/admin/v1/caches/{cache['id']}/keys").json()["apiKey"]
                user = {"Authorization": f"Bearer {key}"}
                entries = f"/v1/caches/{cache['id']}/entries"
                for question in QUESTIONS:
                    body = {"prompt": question, "response": "See the help centre."}
                    client.post(entries, json=body, headers=user).raise_for_status()
                asyncio.run(_record(data, _history(cache["id"], time.time_ns() // 1_000_000)))
                for question in [*QUESTIONS[:4], "Is there a mobile app?", "Do you ship abroad?"]:
                    client.post(f"{entries}/search", json={"prompt": question}, headers=user)
                time.sleep(1)
            _photograph(server, cache["id"], out)
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")


def _photograph(server: ServerProcess, cache_id: str, out: Path) -> None:
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path="/usr/bin/chromium",
            headless=True,
            args=FLAGS,
            viewport={"width": 1100, "height": 900},
        )
        page = context.new_page()
        page.goto(f"{server.url}/console")
        page.fill("input[name=adminKey]", server.admin_key)
        page.click("#login button[type=submit]")
        page.locator(f"#caches tr[data-cache='{cache_id}'] a").click()
        page.locator("figure[data-chart=searches] rect.bar").first.wait_for()
        page.screenshot(path=out, full_page=True)
        context.close()


if __name__ == "__main__":
    main()
