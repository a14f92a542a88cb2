"""Each protocol's copies and ERASER's against a plain re-implementation written with Python lists, and the
choice of protocols and the mask token."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from onnxplain.errors import UserError
from onnxplain.evaluation.perturbation import eraser_counts, removal_order
from onnxplain.evaluation.protocols import (
    PROTOCOLS,
    Operators,
    choose_protocols,
    eraser_copies,
    mask_token_id,
    operators_of,
    protocol_copies,
)
from tests.tiny_models import minilm_dir

PAD, MASK_ID = 0, 103
OPS = Operators(PAD, MASK_ID)


def plain_ranking(relevance: list[float], special: list[bool]) -> list[int]:
    """Non-special positions, most relevant first, ties left to right (by sorting (-r, position) pairs)."""
    return [i for _, i in sorted((-r, i) for i, (r, s) in enumerate(zip(relevance, special, strict=True)) if not s)]


def plain_copy(ids: list[int], affected: set[int], operator: str) -> list[int]:
    if operator == "delete":
        return [token for i, token in enumerate(ids) if i not in affected]
    replacement = PAD if operator == "pad" else MASK_ID
    return [replacement if i in affected else token for i, token in enumerate(ids)]


def plain_protocol(name: str, ids: list[int], relevance: list[float], special: list[bool]) -> list[list[int]]:
    ranked = plain_ranking(relevance, special)
    if name == "lerf":
        ranked = ranked[::-1]
    operator = {"pad": "pad", "mask": "mask", "delete": "delete", "lerf": "pad"}[name]
    n = len(ranked)
    return [plain_copy(ids, set(ranked[: round(j * n / 9)]), operator) for j in range(1, 10)]


def example(length: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(1000, 2000, size=length)
    special = np.zeros(length, dtype=bool)
    special[[0, length - 1]] = True
    relevance = rng.normal(size=length).round(1)  # rounding makes ties
    relevance[special] = 50.0  # the most relevant positions are special: they must stay
    return ids, special, relevance


@pytest.mark.parametrize("name", list(PROTOCOLS))
@pytest.mark.parametrize("length", [3, 11, 24, 41])
def test_protocol_copies_equal_a_plain_reimplementation(name: str, length: int) -> None:
    ids, special, relevance = example(length, seed=length)
    order = removal_order(relevance, special)
    copies = protocol_copies(PROTOCOLS[name], ids, order, OPS)
    expected = plain_protocol(name, ids.tolist(), relevance.tolist(), special.tolist())
    assert [c.tolist() for c in copies] == expected
    for copy in copies:  # special tokens survive every step, in place at both ends
        assert copy[0] == ids[0] and copy[-1] == ids[-1]


def test_the_last_step_affects_every_candidate_and_lerf_ends_where_pad_ends() -> None:
    ids, special, relevance = example(20, seed=1)
    order = removal_order(relevance, special)
    last = {name: protocol_copies(PROTOCOLS[name], ids, order, OPS)[-1] for name in PROTOCOLS}
    assert last["pad"].tolist() == last["lerf"].tolist() == [ids[0], *[PAD] * 18, ids[-1]]
    assert last["mask"].tolist() == [ids[0], *[MASK_ID] * 18, ids[-1]]
    assert last["delete"].tolist() == [ids[0], ids[-1]]


def test_lerf_step_keeps_what_pad_removes_at_the_complementary_step() -> None:
    ids, special, relevance = example(30, seed=2)
    order = removal_order(relevance, special)
    pad = protocol_copies(PROTOCOLS["pad"], ids, order, OPS)
    lerf = protocol_copies(PROTOCOLS["lerf"], ids, order, OPS)
    for j in range(1, 9):  # lerf's step j leaves exactly the tokens pad's step 9 - j replaced
        kept_by_lerf = set(np.flatnonzero((lerf[j - 1] != PAD) & ~special).tolist())
        removed_by_pad = set(np.flatnonzero((pad[8 - j] == PAD) & ~special).tolist())
        assert kept_by_lerf == removed_by_pad


@pytest.mark.parametrize("operator", ["pad", "mask", "delete"])
def test_eraser_copies_equal_a_plain_reimplementation(operator: str) -> None:
    ids, special, relevance = example(33, seed=3)
    ranked = plain_ranking(relevance.tolist(), special.tolist())
    without, only = eraser_copies(operator, ids, removal_order(relevance, special), OPS)
    for fraction, copy, kept in zip((0.01, 0.05, 0.1, 0.2, 0.5), without, only, strict=True):
        count = math.ceil(fraction * len(ranked))
        assert copy.tolist() == plain_copy(ids.tolist(), set(ranked[:count]), operator)
        assert kept.tolist() == plain_copy(ids.tolist(), set(ranked[count:]), operator)


def test_eraser_counts_round_up_and_never_below_one_token() -> None:
    assert eraser_counts(30).tolist() == [1, 2, 3, 6, 15]
    assert eraser_counts(18).tolist() == [1, 1, 2, 4, 9]
    assert eraser_counts(0).tolist() == [0, 0, 0, 0, 0]


def test_mask_token_of_the_real_tokenizer(tmp_path) -> None:
    assert mask_token_id(minilm_dir() / "tokenizer.json") == MASK_ID
    data = json.loads((minilm_dir() / "tokenizer.json").read_text(encoding="utf-8"))
    data["added_tokens"] = [t for t in data["added_tokens"] if t["content"] != "[MASK]"]
    (tmp_path / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    assert mask_token_id(tmp_path / "tokenizer.json") is None


def test_choose_protocols() -> None:
    chosen, notes = choose_protocols(None, MASK_ID)
    assert [p.name for p in chosen] == ["pad", "mask", "delete", "lerf"] and notes == []
    chosen, notes = choose_protocols(None, None)
    assert [p.name for p in chosen] == ["pad", "delete", "lerf"] and "no mask token" in notes[0]
    assert [p.name for p in choose_protocols("lerf, pad,lerf", MASK_ID)[0]] == ["lerf", "pad"]
    assert operators_of(choose_protocols("lerf,delete", MASK_ID)[0]) == ["delete"]
    with pytest.raises(UserError, match="unknown protocol shuffle"):
        choose_protocols("pad,shuffle", MASK_ID)
    with pytest.raises(UserError, match="no mask token"):
        choose_protocols("mask", None)
