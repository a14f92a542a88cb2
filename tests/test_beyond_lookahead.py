"""``cp-lrp-lookahead`` (issue 9): ``cp-lrp-pad``, then the most relevant tokens replaced by the pad token and
the rest explained again. Checked against a plain re-implementation (one example at a time, through
``cp-lrp-pad`` itself and the evaluation's own removal order), and for special tokens, padding and batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from onnxplain.evaluation.perturbation import fraction_counts, removal_order
from onnxplain.export.checkpoint import Checkpoint, load_checkpoint
from onnxplain.export.explain import explain
from onnxplain.export.methods import ordered_above, ranks
from onnxplain.export.registry import LOOKAHEAD_FRACTIONS
from tests.explaining import right_padded

METHOD = "cp-lrp-lookahead"
CLS, SEP = 101, 102  # the MiniLM tokenizer the tiny models carry


@pytest.fixture(scope="module")
def checkpoint(tiny_model_dir: Path) -> Checkpoint:
    return load_checkpoint(tiny_model_dir)


def encoded(sizes=(23, 14, 30), seed: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Random texts framed by [CLS] ... [SEP], right-padded."""
    input_ids, attention_mask = right_padded(sizes, seed)
    for row, size in enumerate(sizes):
        input_ids[row, 0], input_ids[row, size - 1] = CLS, SEP
    return input_ids, attention_mask


def run(checkpoint: Checkpoint, input_ids, attention_mask, target, methods=(METHOD,)) -> dict[str, torch.Tensor]:
    weights = checkpoint.weights
    head_mask = torch.ones(weights.num_layers, weights.num_heads)
    return explain(weights, input_ids, attention_mask, None, target, head_mask, list(methods))


def test_the_tokenizer_s_framing_tokens_and_padding_are_special(checkpoint: Checkpoint) -> None:
    assert set(checkpoint.weights.special_token_ids) == {0, CLS, SEP}


def test_it_is_greedy_deletion_through_cp_lrp_pad(checkpoint: Checkpoint) -> None:
    """The order the deletion evaluation reads from the lookahead relevance is: the top round(n/9) tokens by
    ``cp-lrp-pad``; then, with those replaced by the pad token, the next round(3n/9) - round(n/9) by
    ``cp-lrp-pad`` of that input; then the rest by ``cp-lrp-pad`` with those replaced too."""
    assert LOOKAHEAD_FRACTIONS == (1 / 9, 2 / 9)
    input_ids, attention_mask = encoded()
    target = torch.tensor([0, 2, 1])
    got = run(checkpoint, input_ids, attention_mask, target)[METHOD]
    pad = checkpoint.weights.pad_token_id
    for row in range(len(input_ids)):
        length = int(attention_mask[row].sum())
        ids = input_ids[row : row + 1, :length].clone()
        special = np.zeros(length, dtype=bool)
        special[[0, length - 1]] = True
        counts = fraction_counts(length - 2)
        expected: list[int] = []
        for wanted in (counts[0], counts[2], length - 2):
            relevance = run(checkpoint, ids, torch.ones_like(ids), target[row : row + 1], ["cp-lrp-pad"])
            is_special = special.copy()
            is_special[expected] = True  # already replaced
            order = removal_order(relevance["cp-lrp-pad"][0].numpy(), is_special)
            expected += order[: wanted - len(expected)].tolist()
            ids[0, expected] = pad
        assert removal_order(got[row, :length].numpy(), special).tolist() == expected, row
        assert (got[row, length:] == 0).all()


def test_the_first_pass_keeps_its_values_when_no_raise_is_needed() -> None:
    """``ordered_above`` adds only what keeps a group on top."""
    values = torch.tensor([[0.1, 0.5, 0.2, 0.3]])
    first = torch.tensor([[False, True, False, False]])
    later = torch.tensor([[0.9, 0.0, 0.4, -0.2]])
    merged = ordered_above([(first, values)], later, torch.tensor([[True, False, True, True]]))
    assert merged[0, 1] > 0.9 and merged[0, 1] < 0.9 + 0.01
    assert torch.equal(merged[0, [0, 2, 3]], later[0, [0, 2, 3]])
    lower = torch.tensor([[0.1, 0.05, 0.02, 0.03]])
    kept = ordered_above([(first, values)], lower, torch.tensor([[True, False, True, True]]))
    assert kept[0, 1] == 0.5


def test_ranks_break_ties_left_to_right_like_the_evaluation() -> None:
    scores = torch.tensor([[0.3, 0.7, 0.3, 0.1, 0.7]])
    among = torch.tensor([[True, True, True, False, True]])
    got = ranks(scores, among)[0]
    order = removal_order(scores[0].numpy(), ~among[0].numpy())
    assert [int(got[i]) for i in order] == list(range(4))


def test_relevance_of_an_example_does_not_depend_on_its_batch(checkpoint: Checkpoint) -> None:
    input_ids, attention_mask = encoded()
    target = torch.tensor([1, -1, 0])
    together = run(checkpoint, input_ids, attention_mask, target)[METHOD]
    alone = run(checkpoint, input_ids[1:2, :14], attention_mask[1:2, :14], target[1:2])[METHOD]
    assert torch.allclose(together[1, :14], alone[0], atol=1e-5 * alone.abs().max().item())


def test_a_text_too_short_to_remove_anything_is_cp_lrp_pad(checkpoint: Checkpoint) -> None:
    """With one removable token, round(1/9) = round(3/9) = 0: nothing is replaced, every pass is the first."""
    input_ids, attention_mask = encoded(sizes=(3,))
    outputs = run(checkpoint, input_ids, attention_mask, torch.tensor([0]), (METHOD, "cp-lrp-pad"))
    assert torch.allclose(outputs[METHOD], outputs["cp-lrp-pad"])
