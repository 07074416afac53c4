from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from semcache.store.vector_index import HNSWIndex
from semcache.types import CacheId

__all__ = ["SnapshotInfo", "load_snapshot", "remove_snapshots", "save_snapshot"]

logger = logging.getLogger(__name__)

_FORMAT = 1
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """A saved HNSW index: it holds every change of its cache up to ``seq``."""

    seq: int
    dimension: int
    live: int
    size: int
    path: Path


def _file_stem(cache_id: CacheId) -> str:
    if _SAFE_NAME.fullmatch(cache_id):
        return cache_id
    return "%" + hashlib.sha256(cache_id.encode()).hexdigest()[:32]


@contextlib.contextmanager
def _locked(directory: Path, cache_id: CacheId, *, wait: bool) -> Iterator[bool]:
    """Hold the cache's snapshot lock (shared by every process); yields False if ``wait``
    is False and another holder has it."""
    directory.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(directory / f"{_file_stem(cache_id)}.lock", os.O_RDWR | os.O_CREAT)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(descriptor)


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _snapshots(directory: Path, cache_id: CacheId) -> list[SnapshotInfo]:
    """Complete snapshots of the cache, newest first (unreadable metadata is skipped)."""
    found = []
    for meta_path in directory.glob(f"{_glob_escape(_file_stem(cache_id))}.*.json"):
        try:
            meta = json.loads(meta_path.read_text())
            if meta["format"] != _FORMAT:
                continue
            info = SnapshotInfo(
                seq=int(meta["seq"]),
                dimension=int(meta["dimension"]),
                live=int(meta["live"]),
                size=int(meta["size"]),
                path=meta_path.with_suffix(".hnsw"),
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if info.path.exists():
            found.append(info)
    return sorted(found, key=lambda info: info.seq, reverse=True)


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def save_snapshot(
    directory: Path, cache_id: CacheId, index: HNSWIndex, seq: int
) -> SnapshotInfo | None:
    """Write the index atomically (temp file, fsync, rename) as holding changes up to
    ``seq``, then drop older snapshots. Returns None, writing nothing, if another process
    is saving this cache or a snapshot at least as new exists."""
    with _locked(directory, cache_id, wait=False) as acquired:
        if not acquired:
            return None
        existing = _snapshots(directory, cache_id)
        if existing and existing[0].seq >= seq:
            return None
        stem = _file_stem(cache_id)
        for stale in directory.glob(f".{_glob_escape(stem)}.*.tmp"):
            stale.unlink(missing_ok=True)
        info = _write(directory, stem, index, seq)
        for old in existing:
            old.path.unlink(missing_ok=True)
            old.path.with_suffix(".json").unlink(missing_ok=True)
        return info


def _write(directory: Path, stem: str, index: HNSWIndex, seq: int) -> SnapshotInfo:
    final = directory / f"{stem}.{seq:020d}.hnsw"
    temp_index = directory / f".{stem}.{seq}.{os.getpid()}.hnsw.tmp"
    temp_meta = directory / f".{stem}.{seq}.{os.getpid()}.json.tmp"
    index.save(temp_index)
    _fsync(temp_index)
    info = SnapshotInfo(seq, index.dimension, len(index), temp_index.stat().st_size, final)
    meta = {
        "format": _FORMAT,
        "seq": seq,
        "dimension": info.dimension,
        "live": info.live,
        "size": info.size,
    }
    temp_meta.write_text(json.dumps(meta))
    _fsync(temp_meta)
    # The index file is renamed last: a snapshot is complete once both names exist.
    temp_meta.rename(final.with_suffix(".json"))
    temp_index.rename(final)
    _fsync(directory)
    return info


def load_snapshot(
    directory: Path,
    cache_id: CacheId,
    *,
    dimension: int,
    seq_range: tuple[int, int],
    ef_search: int,
) -> tuple[HNSWIndex, SnapshotInfo] | None:
    """The newest readable snapshot whose dimension matches and whose seq lies within
    ``seq_range`` (the change log must still hold what follows it), or None."""
    if not directory.is_dir():
        return None
    low, high = seq_range
    with _locked(directory, cache_id, wait=True):
        for info in _snapshots(directory, cache_id):
            if info.dimension != dimension or not low <= info.seq <= high:
                continue
            try:
                if info.path.stat().st_size != info.size:
                    raise RuntimeError("size differs from its metadata")
                index = HNSWIndex.load(info.path, dimension, live=info.live, ef_search=ef_search)
            except (OSError, RuntimeError, ValueError) as exc:
                logger.warning("ignoring unreadable index snapshot %s: %s", info.path, exc)
                continue
            return index, info
    return None


def remove_snapshots(directory: Path, cache_id: CacheId) -> None:
    """Delete every snapshot of the cache."""
    if not directory.is_dir():
        return
    with _locked(directory, cache_id, wait=True):
        for info in _snapshots(directory, cache_id):
            info.path.unlink(missing_ok=True)
            info.path.with_suffix(".json").unlink(missing_ok=True)
