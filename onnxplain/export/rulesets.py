"""Rule sets: which rule each kind of operation of a Transformer gets.

A rule set is what the canonical model calls for every operation whose backward matters (linear layers,
activations, norms, residual adds, the two attention products, softmax, the head mask; for decoders also
RMSNorm, the SwiGLU gate and the rotary embedding). Architectures never
name a rule and rules never name an architecture; the canonical model is written once against this
interface. After a forward pass through a rule set, ``torch.autograd.grad`` of the target logit gives:

- ``Gradient``: the ordinary gradient.
- ``Chefer``: Chefer's LRP relevance itself (SPEC section 2.1).
- ``ConservativePropagation`` (CP-LRP) and ``AttnLRP``: a modified gradient; relevance = gradient x input.

Masked variants (``head_masked=True``) multiply what arrives at each head's context by the head mask.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from onnxplain.export import positions, rules


@dataclass(frozen=True)
class Activation:
    """An element-wise activation ``f`` and, where it has a closed form, ``f(x) / x`` (for the identity rule
    of CP-LRP and AttnLRP, which then needs no division; ``ratio(x, zero)``, ``zero`` an exact 0 that the
    ratio may wait for, see ``rules.IdentityRule``); calling it applies ``f``."""

    function: Callable[[Tensor], Tensor]
    ratio: Callable[[Tensor, Tensor], Tensor] | None = None
    derivative: Callable[[Tensor, Tensor], Tensor] | None = None  # f'(x, zero) in closed form, for the gradient

    def __call__(self, x: Tensor) -> Tensor:
        return self.function(x)


def layer_norm(x: Tensor, weight: Tensor, bias: Tensor | None, eps: float, constant_std: bool) -> Tensor:
    """LayerNorm written out, its standard deviation optionally held constant: the reference the rule sets'
    fused ``rules.LayerNormRule`` is tested against."""
    centred = x - x.mean(dim=-1, keepdim=True)
    std = torch.sqrt(centred.pow(2).mean(dim=-1, keepdim=True) + eps)
    if constant_std:
        std = std.detach()
    y = centred / std * weight
    return y if bias is None else y + bias


def rms_norm(x: Tensor, weight: Tensor, eps: float, constant_rms: bool) -> Tensor:
    """RMSNorm (Llama family) written out, so that its root mean square can be held constant."""
    rms = torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)
    if constant_rms:
        rms = rms.detach()
    return x / rms * weight


class Gradient:
    """The ordinary gradient: every operation differentiates as itself; head masks are ignored."""

    name = "gradient"
    head_masked = False
    # the rule of a masked rule set's query, key and value projections (``head_projection``)
    masked_projection: type[rules.HeadProjection] | None = None

    def linear(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        return torch.nn.functional.linear(x, weight, bias)

    def linear_from_heads(self, context: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        """The attention's output projection of the heads' contexts merged: [B, H, T, d] -> [B, T, D]."""
        return self.linear(rules.merge_heads(context), weight, bias)

    def head_projection(self, x: Tensor, weight: Tensor, bias: Tensor | None, columns: Tensor | None) -> Tensor:
        """A query, key or value projection; ``columns`` are its output columns of the heads the head mask
        keeps (``rules.kept_columns``), the only ones a masked rule set's backward carries anything to
        (``masked_projection``), None where the rule set reads no mask."""
        if columns is None or self.masked_projection is None:
            return self.linear(x, weight, bias)
        return self.masked_projection.apply(x, weight, bias, columns)

    def activation(self, fn: Activation, x: Tensor) -> Tensor:
        return rules.GradientActivation.apply(x, fn.function, fn.derivative)

    def activated_linear(self, fn: Activation, hidden: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        """A feed-forward block's activation and output layer, ``linear(fn(hidden))``."""
        return self.linear(self.activation(fn, hidden), weight, bias)

    def norm(self, x: Tensor, weight: Tensor, bias: Tensor | None, eps: float) -> Tensor:
        return rules.LayerNormRule.apply(x, weight, bias, eps, False)[0]

    def rms_norm(self, x: Tensor, weight: Tensor, eps: float) -> Tensor:
        return rms_norm(x, weight, eps, constant_rms=False)

    def gate(self, activated: Tensor, linear: Tensor) -> Tensor:
        """The element-wise gate of a gated feed-forward block (SwiGLU: ``act(x W_g) * (x W_u)``)."""
        return activated * linear

    def rotary(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        """The rotary position embedding of queries and keys: a fixed, bias-free linear map."""
        return positions.rotate(x, cos, sin)

    def residual(self, branch: Tensor, skip: Tensor) -> Tensor:
        return branch + skip

    def attention_scores(self, query: Tensor, key_t: Tensor, scale: float, bias: Tensor) -> Tensor:
        return (query @ key_t) * scale + bias

    def softmax(self, scores: Tensor) -> Tensor:
        return torch.softmax(scores, dim=-1)

    def attention(self, inputs: rules.AttentionInputs) -> Tensor:
        """The attention probabilities ``softmax(Q K^T * scale + bias)``; the gradient's backward computes them
        anew rather than keeping them (``rules.GradientAttention``)."""
        return rules.GradientAttention.apply(inputs.query, inputs.key_t, inputs.bias, inputs.scale)

    def context(self, attention: Tensor, value: Tensor, inputs: rules.AttentionInputs) -> Tensor:
        """The context ``A V``; ``inputs`` are what ``attention`` was computed from."""
        return rules.PlainContext.apply(attention, value, inputs)

    def head_mask(self, context: Tensor, head_mask: Tensor) -> Tensor:
        return context

    def masked_context(
        self, attention: Tensor, value: Tensor, head_mask: Tensor, inputs: rules.AttentionInputs
    ) -> Tensor:
        """The context ``A V`` with the head mask applied to what its backward carries (``head_mask`` of
        ``context``, unless a rule set does both in one rule)."""
        return self.head_mask(self.context(attention, value, inputs), head_mask)


def scores_then_softmax(rule_set: Gradient, inputs: rules.AttentionInputs) -> Tensor:
    """The attention probabilities through a rule set's own score and softmax rules."""
    scores = rule_set.attention_scores(inputs.query, inputs.key_t, inputs.scale, inputs.bias)
    return rule_set.softmax(scores)


class Chefer(Gradient):
    """Chefer et al.'s LRP rules (SPEC 2.1): the backward pass carries relevance."""

    name = "chefer"
    masked_projection = rules.ChefersHeadProjection

    def __init__(self, head_masked: bool = False) -> None:
        self.head_masked = head_masked

    def linear(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        return rules.ChefersLinear.apply(x, weight, bias)

    def linear_from_heads(self, context: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        return rules.ChefersLinearFromHeads.apply(context, weight, bias)

    def activation(self, fn: Activation, x: Tensor) -> Tensor:
        return rules.RelevancePassthrough.apply(x, fn)

    def activated_linear(self, fn: Activation, hidden: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        return rules.ChefersActivatedLinear.apply(hidden, fn.function, weight, bias)

    def norm(self, x: Tensor, weight: Tensor, bias: Tensor | None, eps: float) -> Tensor:
        return rules.RelevancePassthrough.apply(x, lambda t: rules.fused_layer_norm(t, weight, bias, eps)[0])

    def rms_norm(self, x: Tensor, weight: Tensor, eps: float) -> Tensor:
        return rules.RelevancePassthrough.apply(x, lambda t: rms_norm(t, weight, eps, False))

    def gate(self, activated: Tensor, linear: Tensor) -> Tensor:
        return rules.ChefersGate.apply(activated, linear)

    def rotary(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        # Chefer et al. have no rotary models; a rotated feature's relevance goes back to the same feature,
        # which keeps each token's total (the rotation only mixes features within one head of one token).
        return rules.RelevancePassthrough.apply(x, lambda t: positions.rotate(t, cos, sin))

    def residual(self, branch: Tensor, skip: Tensor) -> Tensor:
        return rules.ChefersResidual.apply(branch, skip)

    def attention_scores(self, query: Tensor, key_t: Tensor, scale: float, bias: Tensor) -> Tensor:
        product = rules.ChefersScores.apply(query, key_t)
        return rules.RelevancePassthrough.apply(product, lambda t: t * scale + bias)

    def softmax(self, scores: Tensor) -> Tensor:
        return rules.RelevancePassthrough.apply(scores, lambda t: torch.softmax(t, dim=-1))

    def attention(self, inputs: rules.AttentionInputs) -> Tensor:
        return scores_then_softmax(self, inputs)

    def context(self, attention: Tensor, value: Tensor, inputs: rules.AttentionInputs) -> Tensor:
        return rules.ChefersContext.apply(attention, value, None, inputs)

    def head_mask(self, context: Tensor, head_mask: Tensor) -> Tensor:
        return rules.HeadMask.apply(context, head_mask) if self.head_masked else context

    def masked_context(
        self, attention: Tensor, value: Tensor, head_mask: Tensor, inputs: rules.AttentionInputs
    ) -> Tensor:
        # The product rule on the unmasked relevance, masked after: the same operations as Mask-LRP's stored
        # attention relevance, which the exporter then computes once.
        if self.head_masked:
            return rules.ChefersContext.apply(attention, value, head_mask, inputs)
        return self.context(attention, value, inputs)


class ConservativePropagation(Gradient):
    """CP-LRP (Ali et al. 2022): LayerNorm's standard deviation and the attention probabilities held
    constant, activations by the identity rule; gradient x input is then conservative."""

    name = "cp-lrp"
    masked_projection = rules.GradientHeadProjection

    def __init__(self, head_masked: bool = False) -> None:
        self.head_masked = head_masked

    def activation(self, fn: Activation, x: Tensor) -> Tensor:
        return rules.IdentityRule.apply(x, fn.function, fn.ratio)

    def norm(self, x: Tensor, weight: Tensor, bias: Tensor | None, eps: float) -> Tensor:
        return rules.LayerNormRule.apply(x, weight, bias, eps, True)[0]

    def rms_norm(self, x: Tensor, weight: Tensor, eps: float) -> Tensor:
        return rms_norm(x, weight, eps, constant_rms=True)

    def gate(self, activated: Tensor, linear: Tensor) -> Tensor:
        # The bilinear gate needs the uniform rule (each operand half) to conserve, as in AttnLRP.
        return rules.UniformGate.apply(activated, linear)

    def softmax(self, scores: Tensor) -> Tensor:
        return torch.softmax(scores, dim=-1).detach()

    def attention(self, inputs: rules.AttentionInputs) -> Tensor:
        return scores_then_softmax(self, inputs)

    def context(self, attention: Tensor, value: Tensor, inputs: rules.AttentionInputs) -> Tensor:
        # One backward product (V's gradient A^T dC, the probabilities held constant): A is kept rather than
        # computed anew, which would cost CP-LRP a Q K^T product per layer that its backward has no other use for.
        return attention @ value

    def head_mask(self, context: Tensor, head_mask: Tensor) -> Tensor:
        return rules.HeadMask.apply(context, head_mask) if self.head_masked else context


class AttnLRP(ConservativePropagation):
    """AttnLRP (Achtibat et al. 2024): as CP-LRP for norms and activations, but attention is explained:
    the uniform rule on both products, softmax by its ordinary gradient x input."""

    name = "attnlrp"

    def attention(self, inputs: rules.AttentionInputs) -> Tensor:
        # the uniform rule on Q K^T and softmax's ordinary gradient, in one rule that computes A anew in the
        # backward (the tests compare it with UniformProduct, softmax and UniformProduct written out)
        return rules.GradientAttention.apply(inputs.query, inputs.key_t, inputs.bias, inputs.scale, 0.5)

    def context(self, attention: Tensor, value: Tensor, inputs: rules.AttentionInputs) -> Tensor:
        return rules.PlainContext.apply(attention, value, inputs, 0.5)  # the uniform rule, A computed anew
