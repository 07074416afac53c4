"""What ``semcache stats`` prints: per-cache statistics as a table or as JSON."""

from __future__ import annotations

from typing import Any

from semcache.core.services import Services
from semcache.core.stats import CacheStats, StatsReader, Window
from semcache.store.base import CacheConfig

__all__ = ["read_report", "report_json", "report_table"]

Report = list[tuple[CacheConfig, CacheStats]]


async def read_report(services: Services, cache_id: str | None, windows: list[Window]) -> Report:
    """Statistics of one cache (or every cache) over each window, read from the store."""
    caches = [await services.admin.get(cache_id)] if cache_id else await services.admin.list()
    reader, now = StatsReader(services.store), services.cache.clock()
    return [
        (cache, await reader.read(cache.id, window, now=now))
        for cache in caches
        for window in windows
    ]


def report_json(report: Report) -> list[dict[str, Any]]:
    from semcache.api.schemas import stats_json

    return [{"name": cache.name, **stats_json(stats)} for cache, stats in report]


def report_table(report: Report) -> str:
    header = ["CACHE", "NAME", "WINDOW", "SEARCHES", "HIT RATIO", "AVG MS", "P95 MS", "ENTRIES"]
    rows = [header]
    for cache, stats in report:
        rows.append(
            [
                cache.id,
                cache.name,
                stats.window.label,
                str(stats.searches),
                _number(stats.hit_ratio, "{:.1%}"),
                _number(stats.avg_latency_ms, "{:.2f}"),
                _number(stats.p95_latency_ms, "{:.2f}"),
                str(stats.items),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    numeric = range(3, len(header))
    return "\n".join(
        "  ".join(
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    )


def _number(value: float | None, form: str) -> str:
    return "-" if value is None else form.format(value)
