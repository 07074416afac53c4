"""Benchmark data: prompts, their vectors, and stores prepared with N entries.

Entries are the distinct questions of ``shared/data/qqp_*.jsonl`` (117,159), embedded with
the shipped model (once; the vectors are kept in the bench directory). Beyond that many, an
entry is a *variant* of a real question: prompt ``"<question> (variant k)"`` and the unit
vector ``cos(t) * v + sin(t) * u``, where ``v`` is the question's vector, ``u`` a random
unit vector orthogonal to it and ``cos(t)`` uniform in [0.55, 0.80]. So a million entries
form clusters around real questions, each real question's own entry stays its nearest
neighbour, and no variant is close enough to count as a hit at the default threshold 0.85.

Every entry carries three attributes: ``lang`` (5 values, 20% each), ``group`` (100
values, 1%) and ``tenant`` (1,000 values, 0.1%).

A prepared store is written directly, not through the HTTP API (a million sets through
HTTP would take about an hour): rows are inserted with the SQLite store's own row code in
large transactions, and for caches beyond the HNSW threshold the graph is built with the
store's parameters on every core and saved as the store's snapshot, exactly as the store
would after its own background build. The result is cached in the bench directory
(``$SEMCACHE_BENCH_DIR``, default ``~/.cache/semcache-bench``) and copied for each run.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from semcache.core.cache import entry_id_for, now_millis
from semcache.core.keys import KeyService
from semcache.embedding.onnx import DEFAULT_MODEL_DIR, ONNXEmbedder
from semcache.embedding.registry import DEFAULT_EMBEDDER
from semcache.store import _sqlite_rows as rows
from semcache.store import _sqlite_vectors as store_vectors
from semcache.store._index_snapshot import save_snapshot
from semcache.store._sqlite_index import DEFAULT_HNSW_THRESHOLD, DEFAULT_LOG_RETENTION
from semcache.store._sqlite_schema import DATABASE_NAME, connect
from semcache.store.base import CacheConfig, Entry
from semcache.store.sqlite import SQLiteStore
from semcache.store.vector_index import HNSWIndex

Matrix = npt.NDArray[np.float32]

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
QQP_DEV = SHARED_DATA / "qqp_dev.jsonl"
BENCH_DIR = Path(os.environ.get("SEMCACHE_BENCH_DIR", Path.home() / ".cache" / "semcache-bench"))
_FORMAT = 1
LANGS = ("en", "fr", "de", "es", "it")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@functools.cache
def questions() -> list[str]:
    """Distinct Quora questions, train file first, in file order."""
    found: dict[str, None] = {}
    for name in ("qqp_train.jsonl", "qqp_dev.jsonl"):
        with (SHARED_DATA / name).open(encoding="utf-8") as lines:
            for line in lines:
                pair = json.loads(line)
                for text in (pair["a"].strip(), pair["b"].strip()):
                    if text and len(text) <= 1024:
                        found[text] = None
    return list(found)


def load_prompts(path: Path, count: int) -> list[str]:
    """``count`` distinct questions from a labelled-pairs file, made up beyond what it has
    (or when it is absent)."""
    prompts: dict[str, None] = {}
    if path.exists():
        with path.open() as lines:
            for line in lines:
                pair = json.loads(line)
                texts = (pair["a"].strip(), pair["b"].strip())
                prompts.update(dict.fromkeys(text for text in texts if text))
                if len(prompts) >= count:
                    break
    topics = ["Python", "Rust", "SQL", "Redis", "HTTP", "Linux", "Git", "Docker", "CSS", "DNS"]
    number = 0
    while len(prompts) < count:
        topic = topics[number % len(topics)]
        prompts[f"Question {number}: how do I use {topic} for task {number // 10}?"] = None
        number += 1
    return list(prompts)[:count]


def paraphrases() -> list[tuple[str, str]]:
    """(origin, reworded) pairs of ``shared/data/paraphrases_999.json``."""
    rows = json.loads((SHARED_DATA / "paraphrases_999.json").read_text(encoding="utf-8"))
    return [(row["origin"], row["similar"]) for row in rows]


def miss_prompts(count: int) -> list[str]:
    """Prompts made of words in an order no question has: each is its own topic salad."""
    words = sorted({w for q in questions()[:5000] for w in q.split() if w.isalpha()})
    rng = np.random.default_rng(7)
    return [" ".join(rng.choice(words, size=9)) + "?" for _ in range(count)]


def _model_tag() -> str:
    """The first hex digits of the shipped model file's SHA-256."""
    sha256: str = json.loads((DEFAULT_MODEL_DIR / "model.json").read_text())["sha256"]["model.onnx"]
    return sha256[:12]


def real_vectors(texts: list[str]) -> Matrix:
    """The shipped model's vectors of ``texts``, computed once and kept on disk."""
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = BENCH_DIR / f"vectors-{_model_tag()}-{digest}.npy"
    if path.exists():
        loaded: Matrix = np.load(path)
        return loaded
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    embedder = ONNXEmbedder.from_directory(DEFAULT_MODEL_DIR)
    out = np.empty((len(texts), embedder.dimension), dtype=np.float32)
    started = time.perf_counter()
    for start in range(0, len(texts), 2048):
        out[start : start + 2048] = embedder.encode(texts[start : start + 2048])
        done = min(start + 2048, len(texts))
        rate = done / (time.perf_counter() - started)
        log(f"embedding questions: {done}/{len(texts)} ({rate:.0f}/s)")
    asyncio.run(embedder.close())
    np.save(path, out)
    return out


def attributes_of(number: int) -> dict[str, str]:
    return {
        "lang": LANGS[number % 5],
        "group": f"g{(number // 5) % 100}",
        "tenant": f"t{(number * 7919) % 1000}",
    }


@dataclass(frozen=True)
class Dataset:
    """``size`` entries over the first ``real`` questions (default: every question)."""

    size: int
    real: int = 0

    def __post_init__(self) -> None:
        count = len(questions())
        object.__setattr__(self, "real", min(self.real or count, count, self.size))

    @property
    def name(self) -> str:
        everything = self.real == min(len(questions()), self.size)
        return f"store-{self.size}" + ("" if everything else f"-r{self.real}")

    def texts(self) -> list[str]:
        return questions()[: self.real]

    def prompt(self, number: int) -> str:
        texts = questions()
        if number < self.real:
            return texts[number]
        return f"{texts[number % self.real]} (variant {number // self.real})"

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[str, Matrix]]:
        """(prompt, vector) of entries ``start`` to ``stop``."""
        # Every store's real questions are a prefix of the same list: embed it all once.
        base = real_vectors(questions())[: self.real]
        for number in range(start, self.size if stop is None else stop):
            real = number % self.real
            vector = base[real] if number < self.real else _variant(base[real], number)
            yield self.prompt(number), vector

    def vectors(self) -> Matrix:
        """Every entry's vector, in entry order (for exact ground truth)."""
        out = np.empty((self.size, 384), dtype=np.float32)
        for number, (_, vector) in enumerate(self.entries()):
            out[number] = vector
        return out


def _variant(vector: Matrix, number: int) -> Matrix:
    rng = np.random.default_rng(number)
    noise = rng.standard_normal(vector.shape[0]).astype(np.float32)
    noise -= (noise @ vector) * vector
    noise /= np.linalg.norm(noise)
    cosine = rng.uniform(0.55, 0.80)
    out: Matrix = (cosine * vector + np.sqrt(1 - cosine**2) * noise).astype(np.float32)
    return out


@dataclass(frozen=True)
class Prepared:
    """A store of ``size`` entries in one cache, and how to reach it."""

    path: Path
    dataset: Dataset
    cache_id: str
    api_key: str

    @property
    def size(self) -> int:
        return self.dataset.size

    def working_copy(self, target: Path) -> Path:
        """A copy to run a server on, so runs never change the prepared store: the
        database is copied, the (never modified) index snapshots are hard links."""
        if target.exists():
            shutil.rmtree(target)
        (target / "index").mkdir(parents=True)
        for name in os.listdir(self.path):
            if name.startswith(DATABASE_NAME):
                shutil.copyfile(self.path / name, target / name)
        index = self.path / "index"
        for name in os.listdir(index) if index.is_dir() else []:
            if not name.endswith(".lock"):
                os.link(self.path / "index" / name, target / "index" / name)
        return target


def prepare(size: int, real: int = 0) -> Prepared:
    """The prepared store of ``size`` entries (over ``real`` questions, default all), made
    now if it is not on disk yet."""
    dataset = Dataset(size, real)
    # The model's tag in the name: a store keeps the vectors of the model that prepared it.
    path = BENCH_DIR / f"{dataset.name}-v{_FORMAT}-{_model_tag()}"
    manifest = path / "prepared.json"
    if manifest.exists():
        data = json.loads(manifest.read_text())
        return Prepared(path, dataset, data["cache_id"], data["api_key"])
    if path.exists():
        shutil.rmtree(path)
    log(f"preparing a store of {size:,} entries in {path} (once)")
    cache_id, api_key = asyncio.run(_create_cache(path))
    last_seq = _insert(path, cache_id, dataset)
    if size > DEFAULT_HNSW_THRESHOLD:
        _build_graph(path, cache_id, size, last_seq)
    manifest.write_text(json.dumps({"cache_id": cache_id, "api_key": api_key}))
    return Prepared(path, dataset, cache_id, api_key)


async def _create_cache(path: Path) -> tuple[str, str]:
    store = await SQLiteStore.open(path, preload=False)
    try:
        cache = CacheConfig(
            id=uuid.uuid4().hex, name="bench", embedder=DEFAULT_EMBEDDER, created_at=now_millis()
        )
        await store.create_cache(cache)
        key = await KeyService(store, clock=now_millis).issue(cache.id)
        return cache.id, key.secret
    finally:
        await store.close()


def _insert(path: Path, cache_id: str, dataset: Dataset) -> int:
    connection = connect(path / DATABASE_NAME, busy_timeout=5)
    started = time.perf_counter()
    batch = 10_000
    number = 0
    size = dataset.size
    for start in range(0, size, batch):
        connection.execute("BEGIN IMMEDIATE")
        for number, (prompt, vector) in enumerate(
            dataset.entries(start, min(size, start + batch)), start
        ):
            attributes = attributes_of(number)
            entry = Entry(
                cache_id=cache_id,
                id=entry_id_for(prompt, attributes),
                prompt=prompt,
                response=f"answer {number}",
                attributes=attributes,
                created_at=1_700_000_000_000 + number,
            )
            rows.put_entry(connection, entry, vector.astype("<f4").tobytes(), len(vector))
        connection.execute("COMMIT")
        rate = (number + 1) / (time.perf_counter() - started)
        log(f"inserted {number + 1:,}/{size:,} ({rate:.0f}/s)")
    last_seq = store_vectors.last_seq(connection)
    connection.close()
    return last_seq


def _build_graph(path: Path, cache_id: str, size: int, last_seq: int) -> None:
    connection = connect(path / DATABASE_NAME, busy_timeout=5)
    dimension = store_vectors.cache_dimension(connection, cache_id) or 0
    graph = HNSWIndex(dimension, capacity=size + size // 4)
    started = time.perf_counter()
    done = 0
    for labels, chunk in store_vectors.iter_vectors(connection, cache_id, dimension):
        graph.add(labels, chunk, threads=-1)
        done += len(labels)
        rate = done / (time.perf_counter() - started)
        log(f"HNSW graph: {done:,}/{size:,} ({rate:.0f}/s)")
    info = save_snapshot(path / "index", cache_id, graph, last_seq)
    if info is None:
        raise RuntimeError("the snapshot was not saved")
    connection.execute("BEGIN IMMEDIATE")
    store_vectors.record_snapshot(connection, cache_id, info.seq, int(time.time() * 1000))
    while store_vectors.prune_changes(connection, keep=DEFAULT_LOG_RETENTION, batch=100_000):
        pass
    connection.execute("COMMIT")
    connection.close()


def open_connection(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path / DATABASE_NAME)
