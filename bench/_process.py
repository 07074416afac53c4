"""What a server under test costs the machine: the CPU time and memory of its processes."""

from __future__ import annotations

import psutil

from semcache.testing.server import ServerProcess

__all__ = ["cpu_seconds", "rss"]


def _processes(server: ServerProcess) -> list[psutil.Process]:
    """The server's process and its workers."""
    assert server.process is not None
    process = psutil.Process(server.process.pid)
    return [process, *process.children(recursive=True)]


def rss(server: ServerProcess) -> int:
    """Resident memory of the server's processes, in bytes."""
    return sum(p.memory_info().rss for p in _processes(server))


def cpu_seconds(server: ServerProcess) -> float:
    """CPU time the server's processes have used, user and system."""
    return sum(sum(p.cpu_times()[:2]) for p in _processes(server))
