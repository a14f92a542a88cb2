"""MPNet: relative position buckets as Hugging Face computes them, the canonical encoder equals Hugging
Face with the bias in every layer, CP-LRP conserves on a zero-bias model, and head masks behave as SPEC 2.2
says."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from onnxplain.export.checkpoint import Checkpoint, load_checkpoint
from onnxplain.export.encoder import encode
from onnxplain.export.methods import backward, target_one_hot
from onnxplain.export.positions import relative_position_buckets
from onnxplain.export.rulesets import Chefer, Gradient
from tests.explaining import assert_only_masked_methods_changed, right_padded
from tests.explaining import explain_eagerly as run
from tests.tiny_models import build_tiny_classifier


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Checkpoint:
    return load_checkpoint(build_tiny_classifier(tmp_path_factory.mktemp("mpnet"), "mpnet", seed=2))


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded texts; 40 tokens reach MPNet's logarithmic buckets (offsets of 8 and more)."""
    return right_padded((40, 9, 23))


def test_relative_position_buckets_match_hugging_face() -> None:
    from transformers.models.mpnet.modeling_mpnet import MPNetEncoder

    positions = torch.arange(300)
    expected = MPNetEncoder.relative_position_bucket(positions[None, :] - positions[:, None], num_buckets=32)
    assert torch.equal(relative_position_buckets(300, 32, 128, torch.device("cpu")), expected)


def test_canonical_mpnet_matches_hugging_face(checkpoint: Checkpoint) -> None:
    import transformers

    assert checkpoint.weights.relative_attention_bias is not None
    reference = transformers.AutoModelForSequenceClassification.from_pretrained(
        checkpoint.directory, attn_implementation="eager"
    ).eval()
    input_ids, attention_mask = batch()
    with torch.no_grad():
        expected = reference(input_ids=input_ids, attention_mask=attention_mask).logits
    heads = torch.ones(checkpoint.weights.num_layers, checkpoint.weights.num_heads)
    for rules in (Gradient(), Chefer()):
        trace = encode(checkpoint.weights, rules, input_ids, attention_mask, None, heads)
        assert torch.allclose(trace.logits, expected, atol=1e-5, rtol=0)


def test_cp_lrp_conserves_the_target_logit_on_a_zero_bias_model(tmp_path: Path) -> None:
    checkpoint = load_checkpoint(build_tiny_classifier(tmp_path, "mpnet", seed=4, zero_bias=True))
    input_ids, attention_mask = batch()
    target = torch.tensor([0, 1, 2])
    outputs = run(checkpoint, input_ids, attention_mask, target=target, methods=("cp-lrp", "full-lrp"))
    target_logits = outputs["logits"].gather(1, target[:, None])[:, 0]
    # the relative position bias enters the attention scores, whose probabilities CP-LRP holds constant
    assert torch.allclose(outputs["cp-lrp"].sum(dim=1), target_logits, rtol=1e-4, atol=1e-5)
    assert torch.allclose(outputs["full-lrp"].sum(dim=1), torch.ones(3), atol=1e-3)


def test_head_mask_follows_spec_2_2(checkpoint: Checkpoint) -> None:
    weights = checkpoint.weights
    input_ids, attention_mask = batch()
    partial = torch.ones(weights.num_layers, weights.num_heads)
    partial[-1, [1, 3]] = 0
    kept = run(checkpoint, input_ids, attention_mask)
    masked = run(checkpoint, input_ids, attention_mask, head_mask=partial)
    assert_only_masked_methods_changed(kept, masked)

    none_kept = torch.zeros(weights.num_layers, weights.num_heads)
    one_hot = target_one_hot(kept["logits"], torch.full((3,), -1))
    trace = encode(weights, Chefer(head_masked=True), input_ids, attention_mask, None, none_kept)
    (embedding_relevance,) = backward(trace, one_hot, [trace.embeddings])
    token_relevance = embedding_relevance.sum(dim=-1)
    assert token_relevance[:, 1:].abs().max() == 0  # no head passes relevance: it stays on <s>
