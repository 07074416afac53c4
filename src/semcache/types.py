"""Type aliases shared by every layer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = ["Attributes", "CacheId", "EntryId", "Millis", "Vector", "Vectors"]

Vector: TypeAlias = npt.NDArray[np.float32]
"""One unit-length embedding, shape ``(dimension,)``."""

Vectors: TypeAlias = npt.NDArray[np.float32]
"""Unit-length embeddings, one per row, shape ``(n, dimension)``."""

CacheId: TypeAlias = str
EntryId: TypeAlias = str
Attributes: TypeAlias = Mapping[str, str]
Millis: TypeAlias = int
"""Milliseconds since the Unix epoch, or a duration in milliseconds."""
