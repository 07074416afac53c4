"""Measuring the hit decision on labelled prompt pairs: `semcache eval`."""

from __future__ import annotations

__all__: list[str] = []
