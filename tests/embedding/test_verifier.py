"""The verifier's reading of a pair, through ONNX Runtime with a tiny real model: it scores
a row 0.25 when it holds the token of "zebra" and 1.0 otherwise, so which rows reach the
model, and how their scores become a pair's, can be seen."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from tokenizers import Tokenizer

from semcache.embedding._sessions import SessionPool
from semcache.embedding.onnx import DEFAULT_MODEL_DIR
from semcache.embedding.verifier import VERIFIER_OFF, ONNXVerifier, VerifierRegistry
from semcache.errors import ConfigError

MAX_TOKENS = 64
MARKER = "zebra"


def marker_model(marker_id: int) -> bytes:
    """score = 1 - 0.75 * (the row holds ``marker_id``), for int64 token rows."""
    inputs = [
        helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"])
        for name in ("input_ids", "attention_mask", "token_type_ids")
    ]
    score = helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch"])
    nodes = [
        helper.make_node(
            "Constant",
            [],
            ["marker"],
            value=helper.make_tensor("m", TensorProto.INT64, [], [marker_id]),
        ),
        helper.make_node("Equal", ["input_ids", "marker"], ["found"]),
        helper.make_node("Cast", ["found"], ["found_float"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMax", ["found_float"], ["any"], axes=[1], keepdims=0),
        helper.make_node(
            "Constant",
            [],
            ["weight"],
            value=helper.make_tensor("w", TensorProto.FLOAT, [], [-0.75]),
        ),
        helper.make_node(
            "Constant", [], ["one"], value=helper.make_tensor("o", TensorProto.FLOAT, [], [1.0])
        ),
        helper.make_node("Mul", ["any", "weight"], ["penalty"]),
        helper.make_node("Add", ["penalty", "one"], ["score"]),
    ]
    graph = helper.make_graph(nodes, "marker", inputs, [score])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def marker_id(tokenizer: Tokenizer) -> int:
    found = tokenizer.token_to_id(MARKER)
    assert found is not None
    return found


class RecordingSession:
    """ONNX Runtime's session for the marker model, keeping every row it is given."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.session = ort.InferenceSession(
            marker_model(marker_id(tokenizer)), providers=["CPUExecutionProvider"]
        )
        self.rows: list[list[int]] = []

    def run(self, outputs: list[str], feed: dict[str, Any]) -> list[Any]:
        for ids, mask in zip(feed["input_ids"], feed["attention_mask"], strict=True):
            self.rows.append(ids[: int(mask.sum())].tolist())
        result: list[Any] = self.session.run(outputs, feed)
        return result


@pytest.fixture
def tokenizer() -> Tokenizer:
    loaded = Tokenizer.from_file(str(DEFAULT_MODEL_DIR / "tokenizer.json"))
    loaded.no_truncation()
    loaded.no_padding()
    return loaded


def verifier(tokenizer: Tokenizer, session: RecordingSession) -> ONNXVerifier:
    return ONNXVerifier(
        SessionPool([session], thread_name="test-verify"),
        tokenizer,
        name="recorded",
        max_tokens=MAX_TOKENS,
        default_threshold=0.5,
    )


def words(count: int, start: int = 0) -> str:
    return " ".join(f"word{i}" for i in range(start, start + count))


def test_a_short_pair_is_one_row_of_both_texts(tokenizer: Tokenizer) -> None:
    session = RecordingSession(tokenizer)
    scores = verifier(tokenizer, session).compute([("how do I boil eggs", "how do I boil eggs")])
    assert scores.tolist() == [1.0]
    [row] = session.rows
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    assert row[0] == cls and row[-1] == sep and row.count(sep) == 2


def test_long_pairs_are_read_piece_by_piece_and_take_the_lowest_score(
    tokenizer: Tokenizer,
) -> None:
    """Two long prompts sharing their beginning are not the same question."""
    shared = words(150)
    same_start = (shared + " " + words(30, 500), shared + " " + words(30, 900) + f" {MARKER}")
    identical = (shared, shared)
    session = RecordingSession(tokenizer)
    scores = verifier(tokenizer, session).compute([same_start, identical])
    assert scores.tolist() == [0.25, 1.0]
    assert len(session.rows) > 4  # several pieces per pair
    assert all(len(row) <= MAX_TOKENS for row in session.rows)


def test_no_pairs_no_model_call(tokenizer: Tokenizer) -> None:
    session = RecordingSession(tokenizer)
    assert verifier(tokenizer, session).compute([]).tolist() == []
    assert session.rows == []


def test_the_registry_knows_off_and_refuses_unknown_names(tmp_path: Any) -> None:
    registry = VerifierRegistry(models_dir=tmp_path)
    assert registry.is_known(VERIFIER_OFF)
    assert not registry.is_known("nothing-here") and not registry.is_known("../x")
    with pytest.raises(KeyError):
        registry["nothing-here"]


def test_a_verifier_directory_without_its_files_is_a_config_error(tmp_path: Any) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "verifier.json").write_text("{not json")
    with pytest.raises(ConfigError, match="malformed"):
        ONNXVerifier.from_directory(tmp_path / "broken")


def test_a_verifier_directory_is_loaded_checked_and_scores(
    tmp_path: Path, tokenizer: Tokenizer
) -> None:
    model = marker_model(marker_id(tokenizer))
    directory = tmp_path / "marker"
    directory.mkdir()
    (directory / "verifier.onnx").write_bytes(model)
    info = {
        "name": "marker",
        "max_tokens": MAX_TOKENS,
        "default_threshold": 0.5,
        "min_cosine": {"all-MiniLM-L6-v2": 0.4},
        "tokenizer": str(DEFAULT_MODEL_DIR / "tokenizer.json"),
        "sha256": {"verifier.onnx": hashlib.sha256(model).hexdigest()},
    }
    (directory / "verifier.json").write_text(json.dumps(info))
    loaded = ONNXVerifier.from_directory(directory)
    assert loaded.min_cosine == {"all-MiniLM-L6-v2": 0.4}
    scores = loaded.compute([("a plain question", "another one"), ("a zebra?", "no")])
    assert np.allclose(scores, [1.0, 0.25])
    (directory / "verifier.onnx").write_bytes(model + b"\0")
    with pytest.raises(ConfigError):
        ONNXVerifier.from_directory(directory)
