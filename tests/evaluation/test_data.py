from __future__ import annotations

import json
from pathlib import Path

import pytest

from semcache.errors import ConfigError
from semcache.evaluation.data import LabelledPair, read_pairs


def test_reads_jsonl_json_and_csv(tmp_path: Path) -> None:
    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text('{"a": "x", "b": "y", "label": 1}\n\n{"a": "p", "b": "q", "label": 0}\n')
    expected = [LabelledPair("x", "y", 1), LabelledPair("p", "q", 0)]
    assert read_pairs(jsonl) == expected
    array = tmp_path / "pairs.json"
    array.write_text(json.dumps([{"a": "x", "b": "y", "label": True}]))
    assert read_pairs(array) == [LabelledPair("x", "y", 1)]
    table = tmp_path / "pairs.csv"
    table.write_text('stored,new,same\n"a, with comma",b,yes\nc,d,0\n')
    assert read_pairs(table, columns=("stored", "new", "same")) == [
        LabelledPair("a, with comma", "b", 1),
        LabelledPair("c", "d", 0),
    ]
    assert read_pairs(jsonl, limit=1) == expected[:1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": "x", "label": 1}\n', "row 1: no b"),
        ('{"a": "x", "b": "y", "label": 3}\n', "label must be 0 or 1"),
        ("not json\n", "malformed"),
        ("", "no pairs"),
        ("[1]\n", "expected an object"),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_pairs(path)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        read_pairs(tmp_path / "absent.jsonl")
