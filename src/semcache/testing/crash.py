"""Crash safety: write through the API, ``kill -9`` the server at random moments, restart
it, and check that nothing acknowledged was lost and nothing deleted came back.

Each round starts the server, lets concurrent clients store and delete entries for a
random time, then kills the server with SIGKILL. The harness keeps a model of every prompt:
what its last acknowledged write left, or, for an operation cut off by the kill, the
outcomes it may have had. After each restart it checks every prompt against the database
(the exact strategy) and a sample against the vector index (a semantic search for the
prompt must find its entry, and never a deleted one), and the cache's entry count.

    harness = CrashHarness(Path("/tmp/crash"), kills=50, seed=1)
    report = asyncio.run(harness.run())
    assert report.ok, report.violations
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from semcache.core.cache import entry_id_for
from semcache.testing.server import ServerProcess

__all__ = ["CrashHarness", "CrashReport"]

ABSENT = ""
"""The model's state of a prompt with no live entry; otherwise the state is its response."""

_WORDS = [
    "harbor",
    "lantern",
    "quartz",
    "meadow",
    "violin",
    "glacier",
    "copper",
    "orchard",
    "saddle",
    "pixel",
    "tundra",
    "ember",
    "falcon",
    "marble",
    "canyon",
    "velvet",
    "thunder",
    "pepper",
    "anchor",
    "willow",
    "cobalt",
    "rocket",
    "dune",
    "summit",
]


@dataclass
class CrashReport:
    """What a run did and found; ``ok`` when nothing was lost or resurrected."""

    kills: int = 0
    sets_acknowledged: int = 0
    deletes_acknowledged: int = 0
    deleted_by_attributes: int = 0
    cut_off_by_kill: int = 0
    exact_checks: int = 0
    semantic_checks: int = 0
    count_checks: int = 0
    seconds: float = 0.0
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        return (
            f"{self.kills} kills in {self.seconds:.0f} s: {self.sets_acknowledged} sets and "
            f"{self.deletes_acknowledged} deletes by ID acknowledged, "
            f"{self.deleted_by_attributes} entries deleted by attributes, "
            f"{self.cut_off_by_kill} requests cut off by a kill; checked "
            f"{self.exact_checks} prompts against the database, {self.semantic_checks} "
            f"against the vector index, {self.count_checks} entry counts; "
            f"{len(self.violations)} violations"
        )


@dataclass
class _Prompt:
    index: int
    text: str
    group: str
    state: str = ABSENT
    possible: set[str] | None = None  # outcomes of an operation cut off by a kill
    busy: bool = False

    @property
    def attributes(self) -> dict[str, str]:
        return {"group": self.group}

    @property
    def entry_id(self) -> str:
        return entry_id_for(self.text, self.attributes)


class CrashHarness:
    """Runs rounds of load and ``kill -9`` against a real server in ``data_dir``.

    Args:
        kills: rounds, each ending with a SIGKILL.
        seed: makes the prompts, operations and kill times reproducible.
        prompts: distinct prompts written over and over (in ``groups`` attribute groups).
        clients: concurrent HTTP clients.
        round_seconds: each round lasts a random time in this range before the kill.
        semantic_sample: prompts checked against the vector index after each restart
            (those the last round touched first); every prompt is checked at the end.
        progress: called with the report so far after each round.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        kills: int = 50,
        seed: int = 0,
        prompts: int = 200,
        groups: int = 20,
        clients: int = 8,
        round_seconds: tuple[float, float] = (0.05, 1.0),
        semantic_sample: int = 20,
        progress: Callable[[CrashReport], None] | None = None,
    ) -> None:
        self.server = ServerProcess(data_dir)
        self.kills = kills
        self.rng = random.Random(seed)
        self.clients = clients
        self.round_seconds = round_seconds
        self.semantic_sample = semantic_sample
        self.progress = progress
        self.prompts = [_prompt(i, groups, self.rng) for i in range(prompts)]
        self.report = CrashReport()
        self._touched: set[int] = set()
        self._cut_groups: list[dict[int, str]] = []

    async def run(self) -> CrashReport:
        """Run every round, then a final check of every prompt."""
        started = time.monotonic()
        try:
            for _ in range(self.kills):
                await asyncio.to_thread(self.server.start)
                async with self._client() as http:
                    await self._verify(http, full=False)
                    await self._round(http)
                if self.progress is not None:
                    self.report.seconds = time.monotonic() - started
                    self.progress(self.report)
            await asyncio.to_thread(self.server.start)
            async with self._client() as http:
                await self._verify(http, full=True)
        finally:
            self.server.stop()
            self.report.seconds = time.monotonic() - started
        return self.report

    def _client(self) -> httpx.AsyncClient:
        values = self.server.quickstart
        limits = httpx.Limits(max_connections=self.clients + 2)
        return httpx.AsyncClient(
            base_url=f"{self.server.url}/v1/caches/{values['CACHE_ID']}",
            headers={"Authorization": f"Bearer {values['API_KEY']}"},
            limits=limits,
            timeout=30,
        )

    # one round of load, cut off by a kill

    async def _round(self, http: httpx.AsyncClient) -> None:
        stop = asyncio.Event()
        workers = [asyncio.create_task(self._work(http, stop)) for _ in range(self.clients)]
        await asyncio.sleep(self.rng.uniform(*self.round_seconds))
        self.server.kill()
        self.report.kills += 1
        stop.set()
        await asyncio.gather(*workers)

    async def _work(self, http: httpx.AsyncClient, stop: asyncio.Event) -> None:
        while not stop.is_set():
            roll = self.rng.random()
            if roll < 0.05:
                group = self.rng.choice(self.prompts).group
                chosen = [p for p in self.prompts if p.group == group]
            else:
                chosen = [self.rng.choice(self.prompts)]
            if any(p.busy for p in chosen):
                await asyncio.sleep(0)
                continue
            for prompt in chosen:
                prompt.busy = True
                self._touched.add(prompt.index)
            try:
                if len(chosen) > 1:
                    await self._delete_group(http, chosen)
                elif roll < 0.7:
                    await self._set(http, chosen[0])
                else:
                    await self._delete(http, chosen[0])
            finally:
                for prompt in chosen:
                    prompt.busy = False

    async def _set(self, http: httpx.AsyncClient, prompt: _Prompt) -> None:
        response_text = f"answer {prompt.index}.{self.rng.getrandbits(48):012x}"
        body = {"prompt": prompt.text, "response": response_text, "attributes": prompt.attributes}
        reply = await self._send(http, "POST", "/entries", body, [prompt], response_text)
        if reply is None:
            return
        if reply.status_code != 201 or reply.json().get("entryId") != prompt.entry_id:
            self._violation(f"set of prompt {prompt.index}: {reply.status_code} {reply.text}")
            return
        prompt.state = response_text
        self.report.sets_acknowledged += 1

    async def _delete(self, http: httpx.AsyncClient, prompt: _Prompt) -> None:
        reply = await self._send(http, "DELETE", f"/entries/{prompt.entry_id}", None, [prompt])
        if reply is None:
            return
        expected = 404 if prompt.state == ABSENT else 204
        if reply.status_code != expected:
            self._violation(
                f"delete of prompt {prompt.index} (state {prompt.state!r}): "
                f"{reply.status_code}, expected {expected}"
            )
        prompt.state = ABSENT
        self.report.deletes_acknowledged += reply.status_code == 204

    async def _delete_group(self, http: httpx.AsyncClient, group: list[_Prompt]) -> None:
        body = {"attributes": group[0].attributes}
        reply = await self._send(http, "DELETE", "/entries", body, group)
        if reply is None:
            return
        live = sum(p.state != ABSENT for p in group)
        count = reply.json().get("deletedEntriesCount") if reply.status_code == 200 else None
        if count != live:
            self._violation(
                f"delete of group {group[0].group}: {reply.status_code} {reply.text}, "
                f"expected {live} deleted"
            )
        for prompt in group:
            prompt.state = ABSENT
        self.report.deleted_by_attributes += live

    async def _send(
        self,
        http: httpx.AsyncClient,
        method: str,
        path: str,
        body: object,
        prompts: list[_Prompt],
        new_state: str = ABSENT,
    ) -> httpx.Response | None:
        """The reply, or None when the kill cut the request off (its outcome unknown)."""
        try:
            return await http.request(method, path, json=body)
        except httpx.TransportError:
            self.report.cut_off_by_kill += 1
            if len(prompts) > 1:
                self._cut_groups.append({p.index: p.state for p in prompts})
            for prompt in prompts:
                prompt.possible = (prompt.possible or {prompt.state}) | {new_state}
            return None

    # checks after a restart

    async def _verify(self, http: httpx.AsyncClient, *, full: bool) -> None:
        await _gather_limited([self._check_exact(http, p) for p in self.prompts], self.clients)
        self._check_group_atomicity()
        indexed = self._semantic_candidates(full)
        await _gather_limited([self._check_semantic(http, p) for p in indexed], self.clients)
        await self._check_count()
        self._touched.clear()

    def _semantic_candidates(self, full: bool) -> list[_Prompt]:
        """Every prompt, or a sample, drawn first from those the last round touched."""
        if full:
            return list(self.prompts)
        touched = [self.prompts[i] for i in sorted(self._touched)]
        self.rng.shuffle(touched)
        others = [p for p in self.prompts if p.index not in self._touched]
        self.rng.shuffle(others)
        return [*touched, *others][: self.semantic_sample]

    async def _check_exact(self, http: httpx.AsyncClient, prompt: _Prompt) -> None:
        body = {
            "prompt": prompt.text,
            "searchStrategies": ["exact"],
            "attributes": prompt.attributes,
            "maxResults": 5,
        }
        reply = await http.post("/entries/search", json=body)
        self.report.exact_checks += 1
        hits = reply.json()["data"] if reply.status_code == 200 else None
        if hits is None or len(hits) > 1 or (hits and hits[0]["id"] != prompt.entry_id):
            self._violation(f"exact search of prompt {prompt.index}: {reply.text}")
            return
        found = hits[0]["response"] if hits else ABSENT
        allowed = prompt.possible or {prompt.state}
        if found not in allowed:
            lost = "lost write" if found == ABSENT else "wrong or resurrected entry"
            self._violation(
                f"{lost}: prompt {prompt.index} holds {found!r}, expected one of {allowed}"
            )
        prompt.state, prompt.possible = found, None

    def _check_group_atomicity(self) -> None:
        """A delete by attributes cut off by a kill is one transaction: all or nothing."""
        for before in self._cut_groups:
            live = [i for i, state in before.items() if state != ABSENT]
            survivors = [i for i in live if self.prompts[i].state != ABSENT]
            if 0 < len(survivors) < len(live):
                self._violation(f"a delete by attributes was half applied: {survivors} survive")
        self._cut_groups.clear()

    async def _check_semantic(self, http: httpx.AsyncClient, prompt: _Prompt) -> None:
        body = {"prompt": prompt.text, "similarityThreshold": 0.999, "maxResults": 3}
        reply = await http.post("/entries/search", json=body)
        self.report.semantic_checks += 1
        if reply.status_code != 200:
            self._violation(f"semantic search of prompt {prompt.index}: {reply.text}")
            return
        ids = [hit["id"] for hit in reply.json()["data"]]
        if (prompt.entry_id in ids) != (prompt.state != ABSENT):
            self._violation(
                f"vector index and database disagree on prompt {prompt.index}: "
                f"state {prompt.state!r}, semantic hits {ids}"
            )

    async def _check_count(self) -> None:
        cache_id = self.server.quickstart["CACHE_ID"]
        headers = {"Authorization": f"Bearer {self.server.admin_key}"}
        async with httpx.AsyncClient(base_url=self.server.url, headers=headers) as admin:
            reply = await admin.get(f"/admin/v1/caches/{cache_id}")
        self.report.count_checks += 1
        live = sum(p.state != ABSENT for p in self.prompts)
        if reply.status_code != 200 or reply.json().get("entries") != live:
            self._violation(f"entry count: {reply.text}, expected {live}")

    def _violation(self, message: str) -> None:
        self.report.violations.append(f"after kill {self.report.kills}: {message}")


def _prompt(index: int, groups: int, rng: random.Random) -> _Prompt:
    words = " ".join(rng.sample(_WORDS, 4))
    text = f"Crash safety question {index}: what links {words}?"
    return _Prompt(index, text, f"g{index % groups}")


async def _gather_limited(calls: list[Coroutine[object, object, None]], limit: int) -> None:
    semaphore = asyncio.Semaphore(limit)

    async def limited(call: Coroutine[object, object, None]) -> None:
        async with semaphore:
            await call

    await asyncio.gather(*(limited(call) for call in calls))
