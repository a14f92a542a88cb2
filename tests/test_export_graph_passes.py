"""The traced explain graph keeps one forward pass for all rule sets and computes the same values."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch

from onnxplain.export import graph
from onnxplain.export.checkpoint import load_checkpoint
from onnxplain.export.decompositions import decomposition_table
from onnxplain.export.graph_passes import (
    drop_identity_expands,
    drop_value_preserving,
    merge_common_subexpressions,
    symbolic_shape,
)

LINEAR = "aten.addmm.default"


def linear_calls(module: torch.fx.GraphModule) -> int:
    return Counter(str(n.target) for n in module.graph.nodes if n.op == "call_function")[LINEAR]


def traced_without_passes(weights, methods: list[str]) -> torch.fx.GraphModule:
    from torch.fx.experimental.proxy_tensor import make_fx

    function = graph.explain_function(weights, methods, True)
    return make_fx(
        function,
        decomposition_table=decomposition_table(),
        tracing_mode="symbolic",
        _allow_non_fake_inputs=True,
    )(*graph.example_inputs(weights, 3, 17, True))


def linears_of_one_forward(weights) -> int:
    """Linears with a bias in one plain forward pass as ``explain`` runs it (q, k, v, output, two feed-forward
    per layer, pooler, classifier; the last layer's one-row query may trace as another product)."""
    from torch.fx.experimental.proxy_tensor import make_fx

    from onnxplain.export.canonical import forward
    from onnxplain.export.rulesets import Gradient

    def plain(input_ids, attention_mask, token_type_ids, target, head_mask):
        return forward(weights, Gradient(), input_ids, attention_mask, token_type_ids, head_mask, True).logits

    return linear_calls(
        make_fx(
            plain,
            decomposition_table=decomposition_table(),
            tracing_mode="symbolic",
            _allow_non_fake_inputs=True,
        )(*graph.example_inputs(weights, 3, 17, True))
    )


def test_rule_sets_share_one_forward_pass_and_values_do_not_change(tiny_model_dir: Path) -> None:
    weights = load_checkpoint(tiny_model_dir).weights
    linears_per_forward = linears_of_one_forward(weights)
    assert 5 * weights.num_layers + 2 <= linears_per_forward <= 6 * weights.num_layers + 2
    traced = traced_without_passes(weights, ["mask-lrp", "attnlrp", "cp-lrp"])
    # the gradient pass, Chefer's and CP-LRP's and AttnLRP's forward passes: one copy each before the passes
    # (inside an autograd function some one-row linears of the last layer trace as mm + add instead)
    assert linear_calls(traced) >= 3 * linears_per_forward
    inputs = graph.example_inputs(weights, 2, 11, True, seed=5)
    before = traced(*inputs)
    assert drop_value_preserving(traced) > 0
    assert drop_identity_expands(traced) > 0  # the batched products' expands to the shape they already have
    assert merge_common_subexpressions(traced) > 0
    traced.graph.eliminate_dead_code()
    traced.recompile()
    assert linear_calls(traced) == linears_per_forward
    for old, new in zip(before, traced(*inputs), strict=True):
        assert torch.equal(old, new)


def test_trace_applies_the_passes(tiny_model_dir: Path) -> None:
    weights = load_checkpoint(tiny_model_dir).weights
    traced = graph.trace(weights, ["attnlrp", "cp-lrp"], True)
    assert linear_calls(traced) == linears_of_one_forward(weights)
    expands = [n for n in traced.graph.nodes if n.target == torch.ops.aten.expand.default]
    assert all(symbolic_shape(n) != symbolic_shape(n.args[0]) for n in expands)
