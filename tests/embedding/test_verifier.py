"""The verifier's reading of a pair, with ONNX Runtime's session replaced by a recorder:
which token rows reach the model, and how piece scores become a pair's score."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tokenizers import Tokenizer

from semcache.embedding.onnx import DEFAULT_MODEL_DIR
from semcache.embedding.verifier import VERIFIER_OFF, ONNXVerifier, VerifierRegistry
from semcache.errors import ConfigError

MAX_TOKENS = 64


class RecordingSession:
    """Scores a row 1.0 when its two texts are the same tokens, else 0.25."""

    def __init__(self) -> None:
        self.rows: list[list[int]] = []

    def run(self, outputs: list[str], feed: dict[str, Any]) -> list[Any]:
        scores: list[float] = []
        for ids, types in zip(feed["input_ids"], feed["token_type_ids"], strict=True):
            length = int(feed["attention_mask"][len(scores)].sum())
            row, kinds = ids[:length].tolist(), types[:length].tolist()
            self.rows.append(row)
            first = [t for t, k in zip(row[1:-1], kinds[1:-1], strict=True) if k == 0][:-1]
            second = [t for t, k in zip(row[1:-1], kinds[1:-1], strict=True) if k == 1]
            scores.append(1.0 if first == second else 0.25)
        return [np.array(scores, dtype=np.float32)]


@pytest.fixture
def tokenizer() -> Tokenizer:
    loaded = Tokenizer.from_file(str(DEFAULT_MODEL_DIR / "tokenizer.json"))
    loaded.no_truncation()
    loaded.no_padding()
    return loaded


def verifier(tokenizer: Tokenizer, session: RecordingSession) -> ONNXVerifier:
    return ONNXVerifier(
        session,
        tokenizer,
        name="recorded",
        max_tokens=MAX_TOKENS,
        default_threshold=0.5,
    )


def words(count: int, start: int = 0) -> str:
    return " ".join(f"word{i}" for i in range(start, start + count))


def test_a_short_pair_is_one_row_of_both_texts(tokenizer: Tokenizer) -> None:
    session = RecordingSession()
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
    same_start = (shared + " " + words(30, 500), shared + " " + words(30, 900))
    identical = (shared, shared)
    session = RecordingSession()
    scores = verifier(tokenizer, session).compute([same_start, identical])
    assert scores.tolist() == [0.25, 1.0]
    assert len(session.rows) > 4  # several pieces per pair
    assert all(len(row) <= MAX_TOKENS for row in session.rows)


def test_no_pairs_no_model_call(tokenizer: Tokenizer) -> None:
    session = RecordingSession()
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
