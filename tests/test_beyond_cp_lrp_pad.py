"""``cp-lrp-pad`` (issue 9): CP-LRP's gradient of the target's log-probability times each token's difference
to the pad token, checked against an independent computation, and for padding, pad tokens and batches."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from onnxplain.export.checkpoint import Checkpoint, load_checkpoint
from onnxplain.export.encoder import encode
from onnxplain.export.explain import explain
from onnxplain.export.rulesets import ConservativePropagation
from tests.explaining import right_padded as texts
from tests.tiny_models import build_tiny_classifier

METHOD = "cp-lrp-pad"


@pytest.fixture(scope="module")
def checkpoint(tiny_model_dir: Path) -> Checkpoint:
    return load_checkpoint(tiny_model_dir)


def relevance(checkpoint: Checkpoint, input_ids, attention_mask, target) -> torch.Tensor:
    weights = checkpoint.weights
    head_mask = torch.ones(weights.num_layers, weights.num_heads)
    return explain(weights, input_ids, attention_mask, None, target, head_mask, [METHOD])[METHOD]


def test_it_is_the_cp_lrp_gradient_of_the_log_probability_times_the_difference_to_pad(checkpoint) -> None:
    weights = checkpoint.weights
    input_ids, attention_mask = texts()
    target = torch.tensor([0, 2, 1])
    trace = encode(weights, ConservativePropagation(), input_ids, attention_mask, None, torch.ones(2, 4))
    log_probability = torch.log_softmax(trace.logits, dim=-1).gather(1, target[:, None]).sum()
    (gradient,) = torch.autograd.grad(log_probability, [trace.embeddings])
    difference = weights.word_embeddings[input_ids] - weights.word_embeddings[weights.pad_token_id]
    expected = (gradient * difference).sum(dim=-1) * attention_mask
    got = relevance(checkpoint, input_ids, attention_mask, target)
    assert torch.allclose(got, expected, atol=1e-6 * expected.abs().max().item())
    assert got.abs().sum() > 0


def test_a_token_that_is_the_pad_token_gets_no_relevance_and_padding_none(checkpoint: Checkpoint) -> None:
    input_ids, attention_mask = texts()
    input_ids[0, 3] = checkpoint.weights.pad_token_id  # a real (attended) position holding the pad id
    got = relevance(checkpoint, input_ids, attention_mask, torch.tensor([-1, -1, -1]))
    assert got[0, 3] == 0
    assert (got[attention_mask == 0] == 0).all()
    assert (got[0, [1, 2, 4]] != 0).all()


def test_relevance_of_an_example_does_not_depend_on_its_batch(checkpoint: Checkpoint) -> None:
    input_ids, attention_mask = texts(sizes=(9, 5, 12))
    together = relevance(checkpoint, input_ids, attention_mask, torch.tensor([0, 2, -1]))
    alone = relevance(checkpoint, input_ids[1:2, :5], attention_mask[1:2, :5], torch.tensor([2]))
    assert torch.allclose(together[1, :5], alone[0], atol=1e-6 * alone.abs().max().item())


def test_with_two_labels_the_two_targets_are_opposite_up_to_the_other_class_probability(tmp_path: Path) -> None:
    """For two labels, d log p_0 = p_1 (dz_0 - dz_1) and d log p_1 = p_0 (dz_1 - dz_0): both targets
    explain the logit difference, with opposite signs."""
    checkpoint = load_checkpoint(build_tiny_classifier(tmp_path, "bert", seed=1, num_labels=2))
    input_ids, attention_mask = texts(sizes=(7, 10))
    weights = checkpoint.weights
    logits = explain(weights, input_ids, attention_mask, None, torch.tensor([0, 0]), torch.ones(2, 4), [])["logits"]
    probability = torch.softmax(logits, dim=-1)
    for_negative = relevance(checkpoint, input_ids, attention_mask, torch.tensor([0, 0])) / probability[:, 1:]
    for_positive = relevance(checkpoint, input_ids, attention_mask, torch.tensor([1, 1])) / probability[:, :1]
    assert torch.allclose(for_negative, -for_positive, atol=1e-5 * for_positive.abs().max().item())
