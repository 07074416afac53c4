"""Schemathesis hooks for fuzzing a semcache server: the key each request carries.

``st run`` loads them through ``SCHEMATHESIS_HOOKS=semcache.testing.fuzz_hooks``.
``FUZZ_DATA_AUTH`` and ``FUZZ_ADMIN_AUTH`` hold ``Authorization`` values, one per line,
for the data API and the admin API; each request takes one of them at random, so a run
with wrong keys mixes every kind of wrong key.
"""

from __future__ import annotations

import os
import random
from typing import Any

import schemathesis

__all__ = ["AdminKey", "DataKey"]


class _Key:
    variable = ""

    def get(self, case: schemathesis.Case[Any], ctx: schemathesis.AuthContext) -> str:
        return random.choice(os.environ[self.variable].splitlines())

    def set(self, case: schemathesis.Case[Any], data: str, ctx: schemathesis.AuthContext) -> None:
        case.headers["Authorization"] = data


@schemathesis.auth(refresh_interval=None).apply_to(path_regex="^/v1/")
class DataKey(_Key):
    """The key of the fuzzed cache, or wrong ones."""

    variable = "FUZZ_DATA_AUTH"


@schemathesis.auth(refresh_interval=None).apply_to(path_regex="^/admin/")
class AdminKey(_Key):
    """The admin key, or wrong ones."""

    variable = "FUZZ_ADMIN_AUTH"
