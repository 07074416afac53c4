"""semcache: a self-hosted semantic cache that speaks the Redis LangCache REST API."""

from __future__ import annotations

import os

# One BLAS thread unless told otherwise, set before numpy loads OpenBLAS: a search's matrix
# products are small, and a second BLAS thread spinning against the model's threads made
# exact search at 10,000 entries six times slower on two busy cores (1.3 ms against 8 ms).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"

__all__ = ["__version__"]
