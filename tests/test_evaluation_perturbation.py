"""The perturbation replaces exactly the intended tokens, never a special token, at every fraction."""

from __future__ import annotations

import numpy as np
import pytest

from onnxplain.evaluation.data import LabelledText
from onnxplain.evaluation.encoding import select_texts
from onnxplain.evaluation.perturbation import (
    FRACTIONS,
    deletion_copies,
    fraction_counts,
    removal_order,
    sufficiency_copies,
)
from onnxplain.runtime.tokenization import TextTokenizer
from tests.tiny_models import minilm_dir

PAD = 0


def test_fractions_are_the_nine_steps_up_to_all_tokens() -> None:
    assert FRACTIONS == pytest.approx([j / 9 for j in range(1, 10)])
    assert fraction_counts(20).tolist() == [2, 4, 7, 9, 11, 13, 16, 18, 20]
    assert fraction_counts(9).tolist() == list(range(1, 10))
    assert fraction_counts(1).tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1]


def test_removal_order_ranks_non_special_tokens_and_breaks_ties_by_position() -> None:
    relevance = np.array([9.0, 0.5, 2.0, 0.5, -1.0, 2.0, 8.0])
    special = np.array([True, False, False, False, False, False, True])
    assert removal_order(relevance, special).tolist() == [2, 5, 1, 3, 4]


def test_deletion_replaces_exactly_the_top_tokens_at_every_fraction() -> None:
    rng = np.random.default_rng(0)
    for length in (3, 11, 20, 37):
        input_ids = rng.integers(1000, 2000, size=length)
        special = np.zeros(length, dtype=bool)
        special[[0, length - 1]] = True
        relevance = rng.normal(size=length)
        relevance[special] = 100.0  # the most relevant positions are special: they must stay
        order = removal_order(relevance, special)
        copies = deletion_copies(input_ids, order, PAD)
        kept = sufficiency_copies(input_ids, order, PAD)
        ranked = np.argsort(-np.where(special, -np.inf, relevance))
        for row, fraction in enumerate(FRACTIONS):
            count = round(fraction * (length - 2))
            intended = set(ranked[:count].tolist())
            replaced = set(np.flatnonzero(copies[row] != input_ids).tolist())
            assert replaced == intended
            assert (copies[row][special] == input_ids[special]).all()
            assert (copies[row][sorted(intended)] == PAD).all()
            kept_positions = set(np.flatnonzero(kept[row] == input_ids).tolist())
            assert kept_positions == intended | {0, length - 1}
        assert (copies[-1][~special] == PAD).all()  # the 100% step removes every non-special token
        assert (kept[-1] == input_ids).all()


def test_copies_do_not_touch_the_original() -> None:
    input_ids = np.arange(10, 20)
    special = np.zeros(10, dtype=bool)
    order = removal_order(np.arange(10.0), special)
    deletion_copies(input_ids, order, PAD)
    sufficiency_copies(input_ids, order, PAD)
    assert input_ids.tolist() == list(range(10, 20))


def test_real_tokenizer_special_tokens_survive_every_step() -> None:
    texts = [
        LabelledText("a remarkably tender , funny and wise film about growing up in a small town", 1),
        LabelledText("too short", 0),
        LabelledText(" ".join(["dull"] * 200), 0),
    ]
    tokenizer = TextTokenizer(minilm_dir() / "tokenizer.json", max_length=64)
    encoded = select_texts(texts, tokenizer.encode([t.text for t in texts]), min_tokens=10)
    assert encoded.skipped_short == 1
    assert encoded.truncated == 1
    assert [t.source_index for t in encoded.texts] == [0, 2]
    assert len(encoded.texts[1].input_ids) == 64
    for text in encoded.texts:
        assert text.special_tokens.sum() == 2  # [CLS] and [SEP]
        assert text.special_tokens[0] and text.special_tokens[-1]
        relevance = np.random.default_rng(1).normal(size=len(text.input_ids))
        order = removal_order(relevance, text.special_tokens)
        for perturb in (deletion_copies, sufficiency_copies):
            copies = perturb(text.input_ids, order, PAD)
            assert (copies[:, text.special_tokens] == text.input_ids[text.special_tokens]).all()
