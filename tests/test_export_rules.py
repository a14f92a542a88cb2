"""Each LRP rule conserves relevance where SPEC section 2.1 says it should, and does what it says."""

from __future__ import annotations

import pytest
import torch

from onnxplain.export import rules
from onnxplain.export.activations import ACTIVATIONS
from onnxplain.export.passes import paced
from onnxplain.export.trace import Trace

torch.manual_seed(0)


def relevance_of(function, inputs: list[torch.Tensor], relevance: torch.Tensor) -> list[torch.Tensor]:
    leaves = [t.clone().requires_grad_(True) for t in inputs]
    output = function(*leaves)
    return list(torch.autograd.grad(output, leaves, grad_outputs=relevance))


def test_linear_rule_conserves_and_ignores_the_bias() -> None:
    x, weight, bias = torch.randn(3, 5, 8), torch.randn(6, 8), torch.randn(6) * 5
    relevance = torch.rand(3, 5, 6)
    (r_x,) = relevance_of(lambda t: rules.ChefersLinear.apply(t, weight, bias), [x], relevance)
    # where no input-weight product has a matching sign, Z = 0 and that output's relevance is dropped
    z = x.clamp(min=0) @ weight.clamp(min=0).T + x.clamp(max=0) @ weight.clamp(max=0).T
    assert torch.allclose(r_x.sum(), (relevance * (z != 0)).sum(), rtol=1e-4)
    (r_without_bias,) = relevance_of(lambda t: rules.ChefersLinear.apply(t, weight, None), [x], relevance)
    # the rule reads x W^T as the output less the bias, which costs float32 digits where |b| >> |Z| (bias x5 here)
    assert torch.allclose(r_x, r_without_bias, rtol=1e-3, atol=1e-5)


def test_linear_rule_matches_the_written_out_formula() -> None:
    x, weight = torch.randn(4, 7), torch.randn(3, 7)
    relevance = torch.randn(4, 3)
    (r_x,) = relevance_of(lambda t: rules.ChefersLinear.apply(t, weight, None), [x], relevance)
    expected = torch.zeros_like(x)
    for n in range(4):
        for j in range(3):
            # alpha = 1: only same-sign products x_i * w_ji (positive contributions) share R_j
            positive = x[n].clamp(min=0) * weight[j].clamp(min=0) + x[n].clamp(max=0) * weight[j].clamp(max=0)
            if positive.sum() != 0:
                expected[n] += positive / positive.sum() * relevance[n, j]
    assert torch.allclose(r_x, expected, atol=1e-5)


def four_product_linear_relevance(x: torch.Tensor, weight: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
    """The linear rule as [Chefer] write it, positive and negative halves apart (four matrix products)."""
    w_pos, w_neg, x_pos, x_neg = weight.clamp(min=0), weight.clamp(max=0), x.clamp(min=0), x.clamp(max=0)
    s = rules.stabilised_divide(relevance, x_pos @ w_pos.T + x_neg @ w_neg.T)
    return x_pos * (s @ w_pos) + x_neg * (s @ w_neg)


def test_three_product_linear_rule_equals_the_four_product_form() -> None:
    x, weight, bias = torch.randn(2, 9, 384), torch.randn(1536, 384) * 0.05, torch.randn(1536) * 3
    relevance = torch.randn(2, 9, 1536)
    (r_x,) = relevance_of(lambda t: rules.ChefersLinear.apply(t, weight, bias), [x], relevance)
    expected = four_product_linear_relevance(x.double(), weight.double(), relevance.double())
    assert torch.allclose(r_x.double(), expected, rtol=1e-4, atol=1e-5 * expected.abs().max())


def test_linear_rule_drops_an_output_where_no_product_has_a_matching_sign() -> None:
    x = torch.tensor([[1.5, -0.7, 2.0, -3.1]])
    weight = torch.tensor([[-0.3, 0.9, -1.7, 0.2], [0.4, 0.1, 0.8, 0.6]])  # output 0: every product < 0
    relevance = torch.tensor([[5.0, 1.0]])
    (r_x,) = relevance_of(lambda t: rules.ChefersLinear.apply(t, weight, torch.tensor([0.3, -2.0])), [x], relevance)
    assert torch.allclose(r_x, four_product_linear_relevance(x, weight, relevance), atol=1e-6)
    assert torch.isclose(r_x.sum(), torch.tensor(1.0))


def test_residual_rule_conserves_per_example_and_keeps_signs() -> None:
    a, b = torch.randn(2, 4, 6), torch.randn(2, 4, 6)
    relevance = torch.rand(2, 4, 6)
    relevance[1] *= 100  # a batch-wide normalisation would leak this into example 0
    r_a, r_b = relevance_of(rules.ChefersResidual.apply, [a, b], relevance)
    for n in range(2):
        assert torch.allclose(r_a[n].sum() + r_b[n].sum(), relevance[n].sum(), rtol=1e-5)
    alone_a, alone_b = relevance_of(rules.ChefersResidual.apply, [a[:1], b[:1]], relevance[:1])
    assert torch.allclose(alone_a, r_a[:1]) and torch.allclose(alone_b, r_b[:1])
    # rescaling multiplies each branch of each example by one factor: the pattern inside is kept
    raw_a = a * relevance / (a + b)
    ratio = r_a / raw_a
    assert torch.allclose(ratio[0], ratio[0].flatten()[0].expand_as(ratio[0]), rtol=1e-4)


def test_product_rule_halves_each_operand_and_conserves_in_total() -> None:
    p, q = torch.randn(2, 3, 5, 4), torch.randn(2, 3, 4, 5)
    relevance = torch.rand(2, 3, 5, 5)
    r_p, r_q = relevance_of(rules.ChefersProduct.apply, [p, q], relevance)
    assert torch.allclose(r_p.sum() * 2, relevance.sum(), rtol=1e-4)
    assert torch.allclose(r_q.sum() * 2, relevance.sum(), rtol=1e-4)


def test_scores_rule_recomputing_its_product_equals_the_product_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ChefersScores`` divides by ``(Q / 2) K^T`` (computed anew, not kept): halving is exact, so it gives
    the product rule's relevance with the stabiliser's epsilon doubled (``R / (z / 2 + e) = 2 R / (z + 2 e)``),
    to the last bits; the forward is ``Q K^T``. (Against the product rule's own epsilon, a denominator near 0
    differs by about ``R e / z^2``: more than 1e-6 relatively in about a third of such random draws.)"""
    p, q = torch.randn(2, 3, 5, 4), torch.randn(2, 3, 4, 5)
    relevance = torch.randn(2, 3, 5, 5)
    recomputed = relevance_of(rules.ChefersScores.apply, [p, q], relevance)
    monkeypatch.setattr(rules, "EPSILON", 2 * rules.EPSILON)
    kept = relevance_of(rules.ChefersProduct.apply, [p, q], relevance)
    for new, old in zip(recomputed, kept, strict=True):
        torch.testing.assert_close(new, old, rtol=1e-6, atol=1e-9)
    assert torch.equal(rules.ChefersScores.apply(p, q), p @ q)


def test_passthrough_and_identity_rules() -> None:
    x = torch.randn(3, 8)
    relevance = torch.randn(3, 8)
    (passed,) = relevance_of(lambda t: rules.RelevancePassthrough.apply(t, torch.tanh), [x], relevance)
    assert torch.equal(passed, relevance)
    gelu = torch.nn.functional.gelu
    (scaled,) = relevance_of(lambda t: rules.IdentityRule.apply(t, gelu), [x], relevance)
    # gradient x input through the identity rule gives back output relevance = gradient x output
    assert torch.allclose(scaled * x, relevance * gelu(x), atol=1e-6)


@pytest.mark.parametrize("name", sorted(name for name, a in ACTIVATIONS.items() if a.ratio is not None))
def test_identity_rule_closed_form_ratio_equals_the_stabilised_division(name: str) -> None:
    activation = ACTIVATIONS[name]
    x = torch.cat([torch.randn(4, 64) * 3, torch.tensor([[-12.0, -1e-3, 1e-3, 7.5] * 16])])
    relevance = torch.randn_like(x)
    closed_form = relevance_of(
        lambda t: rules.IdentityRule.apply(t, activation.function, activation.ratio), [x], relevance
    )
    divided = relevance_of(lambda t: rules.IdentityRule.apply(t, activation.function), [x], relevance)
    assert torch.allclose(closed_form[0], divided[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(name for name, a in ACTIVATIONS.items() if a.derivative is not None))
def test_closed_form_derivative_equals_autograd_through_the_activation(name: str) -> None:
    activation = ACTIVATIONS[name]
    x = torch.cat([torch.randn(4, 64, dtype=torch.float64) * 3, torch.tensor([[-12.0, -1e-3, 0.0, 7.5] * 16])])
    gradient = torch.randn_like(x)
    (closed_form,) = relevance_of(
        lambda t: rules.GradientActivation.apply(t, activation.function, activation.derivative), [x], gradient
    )
    (traced,) = relevance_of(lambda t: rules.GradientActivation.apply(t, activation.function), [x], gradient)
    assert torch.allclose(closed_form, traced, rtol=1e-12, atol=1e-14)


def test_tanh_has_no_closed_form_ratio_and_keeps_the_division() -> None:
    assert ACTIVATIONS["tanh"].ratio is None


def test_uniform_product_gives_each_operand_half() -> None:
    p, q = torch.randn(2, 5, 4), torch.randn(2, 4, 3)
    gradient = torch.randn(2, 5, 3)
    g_p, g_q = relevance_of(rules.UniformProduct.apply, [p, q], gradient)
    total = (gradient * (p @ q)).sum()
    assert torch.allclose((g_p * p).sum(), total / 2, rtol=1e-4)
    assert torch.allclose((g_q * q).sum(), total / 2, rtol=1e-4)


def test_head_mask_scales_what_arrives_per_head_and_keeps_the_value() -> None:
    context = torch.randn(2, 3, 4, 5)
    mask = torch.tensor([1.0, 0.0, 1.0])
    assert torch.equal(rules.HeadMask.apply(context, mask), context)
    relevance = torch.randn(2, 3, 4, 5)
    (masked,) = relevance_of(lambda t: rules.HeadMask.apply(t, mask), [context], relevance)
    assert torch.equal(masked[:, 1], torch.zeros(2, 4, 5))
    assert torch.equal(masked[:, 0], relevance[:, 0])


def attention_case(seed: int = 0) -> tuple[rules.AttentionInputs, torch.Tensor]:
    """Queries, keys and a padding bias ([B, 1, 1, T]: the last key of example 1 masked) of a small
    attention layer, and its probabilities."""
    generator = torch.Generator().manual_seed(seed)
    query = torch.randn(2, 3, 5, 4, generator=generator, dtype=torch.float64)
    key_t = torch.randn(2, 3, 4, 5, generator=generator, dtype=torch.float64)
    bias = torch.zeros(2, 1, 1, 5, dtype=torch.float64)
    bias[1, ..., -1] = -1e4
    inputs = rules.AttentionInputs(query, key_t, 0.5, bias)
    return inputs, inputs.forward()


def test_attention_computed_anew_is_the_forward_s_to_the_bit() -> None:
    inputs, attention = attention_case()
    inputs32 = rules.AttentionInputs(*(t.float() for t in (inputs.query, inputs.key_t)), 0.5, inputs.bias.float())
    after = torch.tensor([float("inf"), 1.0])  # a relevance that overflowed does not make them nan
    for case in (inputs, inputs32):
        for halvings in (1, 2):
            assert torch.equal(case.anew(after, halvings), case.forward())
    assert torch.equal(attention, torch.softmax(inputs.query @ inputs.key_t * 0.5 + inputs.bias, dim=-1))


def test_attention_anew_waiting_for_another_pass_is_still_the_forward_s_to_the_bit() -> None:
    """``paced``: each layer's probabilities anew also wait for a tensor of the gradient pass (one that
    overflowed included), and the Chefer pass traced inside it has them; outside it, nothing is left waiting."""
    inputs, attention = attention_case()
    gradient = torch.tensor([[float("-inf"), 2.0]])
    inputs.wait_for.append(gradient)
    assert torch.equal(inputs.anew(torch.ones(2), 1), attention)
    inputs.wait_for.clear()
    blank = torch.zeros(1)
    trace = Trace(blank, blank, blank, blank, attention_inputs=[inputs, attention_case(1)[0]])
    layers = [torch.zeros(3), torch.ones(3)]
    with paced(trace, layers):
        assert [w for i in trace.attention_inputs for w in i.wait_for] == layers
    assert all(not i.wait_for for i in trace.attention_inputs)


def test_projection_from_heads_is_the_linear_rule_of_the_merged_heads() -> None:
    """``ChefersLinearFromHeads`` keeps the contexts in the heads' layout instead of merged, and gives the
    linear rule's relevance to the bit (values and rule are the same operations)."""
    generator = torch.Generator().manual_seed(5)
    weight, bias = torch.randn(6, 6, generator=generator, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    context = torch.randn(2, 3, 5, 2, generator=generator, dtype=torch.float64)
    relevance = torch.rand(2, 5, 6, generator=generator, dtype=torch.float64)
    ours = relevance_of(lambda c: rules.ChefersLinearFromHeads.apply(c, weight, bias), [context], relevance)
    plain = relevance_of(lambda c: rules.ChefersLinear.apply(rules.merge_heads(c), weight, bias), [context], relevance)
    assert ours[0].shape == context.shape and torch.equal(ours[0], plain[0])


def test_transposed_times_is_the_transposed_product() -> None:
    generator = torch.Generator().manual_seed(3)
    square = torch.randn(2, 3, 5, 5, generator=generator, dtype=torch.float64)
    narrow = torch.randn(2, 3, 5, 4, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(rules.transposed_times(square, narrow), square.transpose(-1, -2) @ narrow)


@pytest.mark.parametrize("masked", [False, True])
def test_context_rule_computing_the_probabilities_anew_equals_the_product_rule(masked: bool) -> None:
    """``ChefersContext``: the product rule (then the head mask, Mask-LRP's order) on the probabilities it
    computes again from the queries and keys; the same relevance as the rule on the kept probabilities."""
    inputs, attention = attention_case()
    value = torch.randn(2, 3, 5, 4, dtype=torch.float64)
    mask = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64) if masked else None
    relevance = torch.randn(2, 3, 5, 4, dtype=torch.float64)
    ours = relevance_of(lambda a, v: rules.ChefersContext.apply(a, v, mask, inputs), [attention, value], relevance)
    if mask is None:
        theirs = relevance_of(rules.ChefersProduct.apply, [attention, value], relevance)
    else:
        theirs = relevance_of(
            lambda a, v: rules.HeadMask.apply(rules.ChefersProduct.apply(a, v), mask), [attention, value], relevance
        )
        assert torch.equal(ours[0][:, 1], torch.zeros(2, 5, 5))
    assert torch.equal(rules.ChefersContext.apply(attention, value, mask, inputs), attention @ value)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("share", [1.0, 0.5])
def test_gradient_attention_and_context_computing_the_probabilities_anew_are_the_plain_gradient(share: float) -> None:
    """``GradientAttention`` and ``PlainContext`` keep queries and keys, not the probabilities, and give the
    ordinary gradient at the queries, keys, values and probabilities (``share`` 1), or AttnLRP's uniform rule
    on both products (1/2)."""
    inputs, _ = attention_case(seed=3)
    value = torch.randn(2, 3, 5, 4, dtype=torch.float64)
    seed = torch.randn(2, 3, 5, 4, dtype=torch.float64)

    def gradients(recomputing: bool) -> tuple[torch.Tensor, ...]:
        query, key_t, v = (t.clone().requires_grad_(True) for t in (inputs.query, inputs.key_t, value))
        bias = inputs.bias.clone().requires_grad_(True)
        if recomputing:
            attention = rules.GradientAttention.apply(query, key_t, bias, inputs.scale, share)
            kept = rules.AttentionInputs(query, key_t, inputs.scale, bias)
            context = rules.PlainContext.apply(attention, v, kept, share)
        elif share == 1.0:
            attention = torch.softmax(query @ key_t * inputs.scale + bias, dim=-1)
            context = attention @ v
        else:
            attention = torch.softmax(rules.UniformProduct.apply(query, key_t) * inputs.scale + bias, dim=-1)
            context = rules.UniformProduct.apply(attention, v)
        return torch.autograd.grad(context, [query, key_t, v, bias, attention], grad_outputs=seed)

    for ours, theirs in zip(gradients(True), gradients(False), strict=True):
        assert ours.shape == theirs.shape
        torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)


def test_stabilised_divide_is_zero_where_the_denominator_is() -> None:
    out = rules.stabilised_divide(torch.tensor([1.0, 2.0, -3.0]), torch.tensor([0.0, 4.0, -1.0]))
    assert out[0] == 0 and torch.isclose(out[1], torch.tensor(0.5)) and torch.isclose(out[2], torch.tensor(3.0))


@pytest.mark.parametrize("constant_std", [False, True])
def test_fused_layer_norm_rule_equals_the_written_out_norm(constant_std: bool) -> None:
    from onnxplain.export.rulesets import layer_norm

    x = torch.randn(2, 5, 16, dtype=torch.float64) * 3 + 1
    weight, bias = torch.randn(16, dtype=torch.float64), torch.randn(16, dtype=torch.float64)
    upstream = torch.randn(2, 5, 16, dtype=torch.float64)
    (fused,) = relevance_of(lambda t: rules.LayerNormRule.apply(t, weight, bias, 1e-5, constant_std)[0], [x], upstream)
    (written,) = relevance_of(lambda t: layer_norm(t, weight, bias, 1e-5, constant_std), [x], upstream)
    assert torch.allclose(fused, written, rtol=1e-10, atol=1e-12)
    value = rules.LayerNormRule.apply(x, weight, bias, 1e-5, constant_std)[0]
    assert torch.allclose(value, layer_norm(x, weight, bias, 1e-5, constant_std), rtol=1e-12, atol=1e-12)
    if constant_std:  # gradient x input through the centring alone sums to the relevance of the centred part
        assert torch.allclose(
            (fused * x).sum(),
            (
                upstream
                * weight
                * (x - x.mean(-1, keepdim=True))
                / (x.var(-1, unbiased=False, keepdim=True) + 1e-5).sqrt()
            ).sum(),
        )


@pytest.mark.parametrize("kept", [(1, 0, 1, 0), (0, 0, 0, 0), (1, 1, 1, 1), (0, 0, 0, 1)])
def test_head_projections_over_the_kept_columns_equal_the_dense_rules(kept: tuple[int, ...]) -> None:
    heads, head_dim = 4, 3
    x, weight, bias = torch.randn(2, 5, 8), torch.randn(heads * head_dim, 8), torch.randn(heads * head_dim)
    mask = torch.tensor(kept, dtype=torch.float32)
    columns = rules.kept_columns(mask, head_dim)
    assert columns.tolist() == [c for c in range(heads * head_dim) if kept[c // head_dim]]
    # what a masked rule set's backward delivers to a projection: nothing in a masked head's columns
    relevance = torch.randn(2, 5, heads * head_dim) * mask.repeat_interleave(head_dim)
    (dense,) = relevance_of(lambda t: rules.ChefersLinear.apply(t, weight, bias), [x], relevance)
    (sparse,) = relevance_of(lambda t: rules.ChefersHeadProjection.apply(t, weight, bias, columns), [x], relevance)
    assert torch.allclose(sparse, dense, atol=1e-6)
    (gradient,) = relevance_of(lambda t: torch.nn.functional.linear(t, weight, bias), [x], relevance)
    (sparse,) = relevance_of(lambda t: rules.GradientHeadProjection.apply(t, weight, bias, columns), [x], relevance)
    assert torch.allclose(sparse, gradient, atol=1e-6)
    assert torch.equal(rules.ChefersHeadProjection.apply(x, weight, bias, columns), x @ weight.T + bias)
