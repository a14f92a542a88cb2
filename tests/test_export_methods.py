"""The methods of SPEC section 2 in eager PyTorch: conservation, padding, batch independence, head masks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from onnxplain.export.checkpoint import Checkpoint, load_checkpoint
from onnxplain.export.encoder import encode
from onnxplain.export.explain import explain
from onnxplain.export.methods import backward, chefer_rollout, stored_attention_relevance, target_one_hot
from onnxplain.export.registry import METHOD_NAMES, tolerance
from onnxplain.export.rulesets import Chefer, Gradient
from onnxplain.export.verify import in_double
from tests.explaining import assert_only_masked_methods_changed
from tests.explaining import explain_eagerly as run
from tests.explaining import right_padded as batch
from tests.tiny_models import build_tiny_classifier


@pytest.fixture(scope="module")
def checkpoint(tiny_model_dir: Path) -> Checkpoint:
    return load_checkpoint(tiny_model_dir)


def test_every_method_gives_finite_relevance_and_zero_on_padding(checkpoint: Checkpoint) -> None:
    input_ids, attention_mask = batch()
    outputs = run(checkpoint, input_ids, attention_mask)
    for method in METHOD_NAMES:
        relevance = outputs[method]
        assert relevance.shape == input_ids.shape, method
        assert torch.isfinite(relevance).all(), method
        assert (relevance[attention_mask == 0] == 0).all(), method
        assert relevance.abs().sum() > 0, method


def test_relevance_of_an_example_does_not_depend_on_its_batch(checkpoint: Checkpoint) -> None:
    input_ids, attention_mask = batch(sizes=(9, 5, 12))
    together = run(checkpoint, input_ids, attention_mask, target=torch.tensor([0, 2, -1]))
    alone = run(checkpoint, input_ids[1:2, :5], attention_mask[1:2, :5], target=torch.tensor([2]))
    for method in ("logits", *METHOD_NAMES):
        expected = alone[method][0]
        got = together[method][1, : expected.shape[0]]
        scale = expected.abs().max().clamp(min=1e-6)
        # float rounding only (see verify.tolerance); a leak between examples is off by order 1
        assert ((got - expected).abs().max() / scale) < tolerance(method), method


def test_full_lrp_conserves_the_target_relevance(checkpoint: Checkpoint) -> None:
    input_ids, attention_mask = batch()
    relevance = run(checkpoint, input_ids, attention_mask, methods=("full-lrp",))["full-lrp"]
    assert torch.allclose(relevance.sum(dim=1), torch.ones(3), atol=1e-3)


def test_cp_lrp_conserves_the_target_logit_on_a_zero_bias_model(tmp_path: Path) -> None:
    checkpoint = load_checkpoint(build_tiny_classifier(tmp_path / "zero-bias", "bert", seed=4, zero_bias=True))
    input_ids, attention_mask = batch()
    target = torch.tensor([0, 1, 2])
    outputs = run(checkpoint, input_ids, attention_mask, target=target, methods=("cp-lrp", "mask-cp-lrp"))
    target_logits = outputs["logits"].gather(1, target[:, None])[:, 0]
    assert torch.allclose(outputs["cp-lrp"].sum(dim=1), target_logits, rtol=1e-3, atol=1e-5)


def test_mask_lrp_with_every_head_is_transatt_with_doubled_attention_relevance(checkpoint: Checkpoint) -> None:
    weights = checkpoint.weights
    input_ids, attention_mask = batch()
    all_heads = torch.ones(weights.num_layers, weights.num_heads)
    mask_lrp = run(checkpoint, input_ids, attention_mask, head_mask=all_heads)["mask-lrp"]

    plain = encode(weights, Gradient(), input_ids, attention_mask, None, all_heads)
    one_hot = target_one_hot(plain.logits.detach(), torch.full((3,), -1))
    gradients = backward(plain, one_hot, plain.attentions)
    trace = encode(weights, Chefer(), input_ids, attention_mask, None, all_heads)
    _, *context_relevance = backward(trace, one_hot, [trace.embeddings, *trace.contexts])
    halved = stored_attention_relevance(trace, context_relevance, head_masked=False)
    transatt = chefer_rollout(gradients, halved) * attention_mask
    doubled = chefer_rollout(gradients, [2 * r for r in halved]) * attention_mask
    assert torch.allclose(transatt, run(checkpoint, input_ids, attention_mask)["transatt"], atol=1e-7)
    assert torch.allclose(mask_lrp, doubled, rtol=1e-5, atol=1e-9)
    assert not torch.allclose(mask_lrp, transatt, rtol=1e-3, atol=0)


def test_masking_a_layer_stops_relevance_through_its_attention(checkpoint: Checkpoint) -> None:
    weights = checkpoint.weights
    input_ids, attention_mask = batch()
    one_hot = target_one_hot(run(checkpoint, input_ids, attention_mask, methods=())["logits"], torch.full((3,), -1))
    top_masked = torch.ones(weights.num_layers, weights.num_heads)
    top_masked[-1] = 0
    trace = encode(weights, Chefer(head_masked=True), input_ids, attention_mask, None, top_masked)
    _, *context_relevance = backward(trace, one_hot, [trace.embeddings, *trace.contexts])
    # the top layer's heads pass nothing down, so only token 0 (read by the classifier) carries relevance
    # into the layer below through the residual stream; no other query row of that layer's context gets any
    below = context_relevance[-2]
    assert below[:, :, 1:].abs().max() == 0
    assert below[:, :, 0].abs().max() > 0

    none_kept = torch.zeros(weights.num_layers, weights.num_heads)
    trace = encode(weights, Chefer(head_masked=True), input_ids, attention_mask, None, none_kept)
    (embedding_relevance,) = backward(trace, one_hot, [trace.embeddings])
    token_relevance = embedding_relevance.sum(dim=-1)
    assert token_relevance[:, 1:].abs().max() == 0  # no attention anywhere: relevance stays on token 0


def test_head_mask_reaches_only_the_masked_methods(checkpoint: Checkpoint) -> None:
    weights = checkpoint.weights
    input_ids, attention_mask = batch()
    partial = torch.ones(weights.num_layers, weights.num_heads)
    partial[-1, [0, 2]] = 0
    partial[0, 1] = 0
    kept = run(checkpoint, input_ids, attention_mask)
    masked = run(checkpoint, input_ids, attention_mask, head_mask=partial)
    assert_only_masked_methods_changed(kept, masked)
    for unmasked in ("attnlrp", "cp-lrp"):
        assert torch.allclose(kept[unmasked], kept[f"mask-{unmasked}"])


def test_target_selects_the_explained_class(checkpoint: Checkpoint) -> None:
    input_ids, attention_mask = batch()
    outputs = run(checkpoint, input_ids, attention_mask, target=torch.tensor([-1, -1, -1]), methods=("attnlrp",))
    predicted = outputs["logits"].argmax(dim=1)
    chosen = run(checkpoint, input_ids, attention_mask, target=predicted, methods=("attnlrp",))
    other = run(checkpoint, input_ids, attention_mask, target=(predicted + 1) % 3, methods=("attnlrp",))
    assert torch.equal(outputs["attnlrp"], chosen["attnlrp"])
    assert not torch.allclose(outputs["attnlrp"], other["attnlrp"])


@pytest.mark.parametrize("architecture", ["bert", "mpnet", "distilbert"])
def test_running_the_last_layer_for_the_explained_token_alone_changes_no_method(
    tmp_path: Path, architecture: str
) -> None:
    checkpoint = load_checkpoint(build_tiny_classifier(tmp_path / architecture, architecture, seed=5))
    weights = in_double(checkpoint.weights)  # float64: the two orders of summation agree to rounding of 1e-16
    input_ids, attention_mask = batch()
    head_mask = torch.rand(weights.num_layers, weights.num_heads, generator=torch.Generator().manual_seed(1)) > 0.4
    inputs = (weights, input_ids, attention_mask, None, torch.tensor([0, 2, -1]), head_mask.float())
    rows = explain(*inputs, METHOD_NAMES, explained_rows_only=True)
    every = explain(*inputs, METHOD_NAMES, explained_rows_only=False)
    for method in ("logits", *METHOD_NAMES):
        scale = every[method].abs().max().clamp(min=1e-6)
        assert ((rows[method] - every[method]).abs().max() / scale) < 1e-9, method


def matrix_product_flops(checkpoint: Checkpoint, methods: tuple[str, ...], head_mask: torch.Tensor) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    input_ids, attention_mask = batch()
    with FlopCounterMode(display=False) as counter:
        run(checkpoint, input_ids, attention_mask, head_mask=head_mask, methods=methods)
    return counter.get_total_flops()


@pytest.mark.parametrize("method", ["mask-lrp", "mask-cp-lrp", "mask-attnlrp"])
def test_masked_passes_skip_the_products_of_masked_heads(checkpoint: Checkpoint, method: str) -> None:
    """A masked head passes nothing below its context, so its query, key and value rules are not computed:
    fewer products under a sparse mask than with every head kept; an unmasked method costs the same."""
    weights = checkpoint.weights
    every, one = torch.ones(weights.num_layers, weights.num_heads), torch.zeros(weights.num_layers, weights.num_heads)
    one[0, 0] = 1.0
    assert matrix_product_flops(checkpoint, (method,), one) < matrix_product_flops(checkpoint, (method,), every)
    assert matrix_product_flops(checkpoint, ("transatt",), one) == matrix_product_flops(
        checkpoint, ("transatt",), every
    )
