"""Reading labelled prompt pairs: JSON Lines, a JSON array, or CSV with a header row."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from semcache.errors import ConfigError

__all__ = ["DEFAULT_COLUMNS", "LabelledPair", "read_pairs"]

DEFAULT_COLUMNS = ("a", "b", "label")
"""The fields holding the stored prompt, the new prompt and the label (1: same meaning)."""

_TRUE = {"1", "true", "yes", "same", "duplicate"}
_FALSE = {"0", "false", "no", "different"}


@dataclass(frozen=True, slots=True)
class LabelledPair:
    """Two prompts and whether they mean the same (``label`` 1) or not (0).

    ``a`` plays the stored prompt and ``b`` the new one searched for.
    """

    a: str
    b: str
    label: int


def read_pairs(
    path: Path, *, columns: tuple[str, str, str] = DEFAULT_COLUMNS, limit: int | None = None
) -> list[LabelledPair]:
    """The pairs of a ``.jsonl``, ``.json`` (an array of objects) or ``.csv`` file.

    Raises:
        ConfigError: the file cannot be read, or a row lacks a column or has a bad label;
            the message names the file and the row.
    """
    pairs: list[LabelledPair] = []
    for number, row in _rows(path):
        if limit is not None and len(pairs) >= limit:
            break
        pairs.append(_pair(row, columns, f"{path}, row {number}"))
    if not pairs:
        raise ConfigError(f"{path} holds no pairs")
    return pairs


def _rows(path: Path) -> Iterator[tuple[int, Mapping[str, object]]]:
    suffix = path.suffix.lower()
    try:
        with path.open(encoding="utf-8", newline="") as file:
            if suffix == ".csv":
                yield from enumerate(csv.DictReader(file), start=2)
            elif suffix == ".json":
                data = json.load(file)
                if not isinstance(data, list):
                    raise ConfigError(f"{path} must hold a JSON array of objects")
                yield from enumerate(data, start=1)
            else:
                for number, line in enumerate(file, start=1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        # json's position counts within the line: name the file's row instead.
                        raise ConfigError(
                            f"{path}, row {number} is malformed: {exc.msg} (column {exc.colno})"
                        ) from exc
                    yield number, row
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except (json.JSONDecodeError, csv.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is malformed: {exc}") from exc


def _pair(row: object, columns: tuple[str, str, str], where: str) -> LabelledPair:
    if not isinstance(row, Mapping):
        raise ConfigError(f"{where}: expected an object with {', '.join(columns)}")
    missing = [name for name in columns if row.get(name) is None]
    if missing:
        raise ConfigError(f"{where}: no {', '.join(missing)} (columns: {', '.join(columns)})")
    a, b, label = (row[name] for name in columns)
    return LabelledPair(str(a), str(b), _label(label, where))


def _label(value: object, where: str) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float) and value in (0, 1):
        return int(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return 1
    if text in _FALSE:
        return 0
    raise ConfigError(f"{where}: the label must be 0 or 1, got {value!r}")
