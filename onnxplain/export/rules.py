"""LRP rules as small autograd functions.

Each function computes the ordinary forward value; its backward carries *relevance* (Chefer rules) or a
*modified gradient* (single-backward rule sets, where relevance = gradient x input) instead of the true
gradient. Rules know nothing about models; `rulesets.py` says which rule goes where.

References:
    [Chefer]   Chefer, Gur, Wolf. Transformer Interpretability Beyond Attention Visualization. CVPR 2021.
    [Ali]      Ali et al. XAI for Transformers: Better Explanations through Conservative Propagation. ICML 2022.
    [AttnLRP]  Achtibat et al. AttnLRP: Attention-Aware Layer-Wise Relevance Propagation. ICML 2024.
    [Mask-LRP] Song et al. Better Explain Transformers by Illuminating Important Information. EACL 2024.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.autograd import Function

EPSILON = 1e-9


def stabilised_divide(numerator: Tensor, denominator: Tensor) -> Tensor:
    """``numerator / (denominator + eps * sign(denominator))``, and 0 where the denominator is 0.

    Where the denominator is 0 the division gives inf or nan, which ``where`` discards: two element-wise
    operations (and two temporaries the size of the operands) fewer than making the denominator safe first.
    The stabilised denominator is 0 exactly where the denominator is (the epsilon has its sign), so the test
    reads it and the denominator itself can be freed before the division."""
    stabilised = denominator + EPSILON * torch.sign(denominator)
    return torch.where(stabilised == 0, 0.0, numerator / stabilised)  # a scalar 0: no tensor of zeros to fill


def per_example_sum(tensor: Tensor) -> Tensor:
    """Sum over every axis but the batch axis, kept broadcastable (relevance is normalised per example)."""
    return tensor.reshape(tensor.shape[0], -1).sum(dim=1).reshape((-1,) + (1,) * (tensor.dim() - 1))


# Below this fraction of sum_i |x_i w_ji|, a linear rule's denominator Z is rounding noise of the cancellation
# in ``x W^T + |x| |W|^T`` (it is 0 where no product has a matching sign): that output's relevance is dropped.
CANCELLATION_TOLERANCE = 1e-5


def linear_relevance(x: Tensor, weight: Tensor, relevance: Tensor, product: Tensor | None = None) -> Tensor:
    """[Chefer] eq. 4 with alpha = 1, beta = 0, bias out of the denominator:
    ``Z = x+ W+^T + x- W-^T``, ``S = R / Z``, ``R_x = x+ * (S W+) + x- * (S W-)``.

    A same-sign product is ``(x w + |x| |w|) / 2`` and an opposite-sign one gives 0, so this is computed
    with three matrix products instead of four, given ``product = x W^T`` (the forward's output less the
    bias): ``Z = (x W^T + |x| |W|^T) / 2`` and ``R_x = (x * (S W) + |x| * (S |W|)) / 2``."""
    if product is None:
        product = torch.nn.functional.linear(x, weight)
    absolute_x, absolute_weight = x.abs(), weight.abs()
    magnitude = torch.nn.functional.linear(absolute_x, absolute_weight)
    # The halves cancel: with 2Z = x W^T + |x| |W|^T, s = R / (2Z + 2 eps) = S / 2 gives R_x directly.
    twice_z = product + magnitude
    significant = twice_z > (2 * CANCELLATION_TOLERANCE) * magnitude
    s = torch.where(significant, relevance / (twice_z + 2 * EPSILON), 0.0)
    return x * (s @ weight) + absolute_x * (s @ absolute_weight)


def transposed_times(p: Tensor, s: Tensor) -> Tensor:
    """``P^T S`` for a [.., T, T] ``P`` (attention probabilities) and a narrow ``S``, as ``(S^T P)^T``: the
    transposes are then of [.., T, d] tensors. ONNX Runtime fuses a transpose into a matrix product only
    where it feeds the product directly, and a batched product is exported behind reshapes, so ``P^T S``
    copied ``P`` transposed: a [B, H, T, T] tensor more at a Chefer layer's memory peak."""
    return (s.transpose(-1, -2) @ p).transpose(-1, -2)


def product_relevance(
    p: Tensor, q: Tensor, relevance: Tensor, product: Tensor | None = None, square_p: bool = False
) -> tuple[Tensor, Tensor]:
    """[Chefer] rule for the product of two activations ``z = P @ Q`` (before halving):
    ``R_P = P * ((R / z) Q^T)``, ``R_Q = Q * (P^T (R / z))``; ``product`` is ``z`` where the forward pass
    computed it already; ``square_p``: ``P`` is the [T, T] one of the two (``transposed_times``)."""
    s = stabilised_divide(relevance, p @ q if product is None else product)
    at_q = transposed_times(p, s) if square_p else p.transpose(-1, -2) @ s
    return p * (s @ q.transpose(-1, -2)), q * at_q


def zero_after(tensor: Tensor) -> Tensor:
    """An exact 0 (shape [1]) computed from one element of ``tensor``: added to an operand, it makes an
    operation wait for ``tensor`` without changing its value (0 or 1 times 0, never ``0 * inf``)."""
    return torch.isfinite(tensor.detach().flatten()[:1]).to(tensor.dtype) * 0.0


@dataclass(frozen=True)
class AttentionInputs:
    """What a layer's attention probabilities come from: ``softmax(query @ key_t * scale + bias)``.

    A backward rule that reads the probabilities computes them again from these (``anew``) instead of having
    the [B, H, T, T] tensor kept from the forward pass until the backward pass reaches its layer (96 MiB per
    layer at 8 x 512 tokens for MiniLM; five layers of it were alive at ``mask-lrp``'s memory peak). What is
    kept instead, the queries and keys, is 2 d / T of that (a sixteenth at 512 tokens for heads of 32). The
    cost: one ``Q K^T`` product and one softmax more per layer and backward pass."""

    query: Tensor
    key_t: Tensor
    scale: float
    bias: Tensor
    # Tensors of another backward pass that ``anew`` also waits for (``paced``): set while a pass is traced.
    wait_for: list[Tensor] = field(default_factory=list, compare=False)

    def forward(self) -> Tensor:
        """The probabilities as the forward pass computes them."""
        return torch.softmax((self.query @ self.key_t) * self.scale + self.bias, dim=-1)

    def anew(self, after: Tensor, halvings: int = 1) -> Tensor:
        """The same probabilities, computed again once ``after`` (the relevance or gradient where the
        backward pass needs them) exists: without that dependency a memory-minded order would run it as
        soon as the queries and keys exist and keep the result just the same. ONNX Runtime merges identical
        operations on identical inputs, so the queries are scaled by ``2^-halvings`` and the scores by
        ``2^halvings``: exact, so the values are the forward's, and distinct from another pass's
        computation (another ``halvings``), which would otherwise be merged with this one and kept alive
        from one pass to the other."""
        factor = 2.0**halvings
        wait = zero_after(after)
        for tensor in self.wait_for:
            wait = wait + zero_after(tensor)
        query = self.query * (1 / factor) + wait
        return torch.softmax((query @ self.key_t) * (factor * self.scale) + self.bias, dim=-1)


def saved_attention(ctx: Any, inputs: AttentionInputs, *tensors: Tensor) -> None:
    """Keep what ``attention_anew`` needs in ``ctx`` (queries, keys, bias; the scale as a number) after
    ``tensors``."""
    ctx.scale, ctx.wait_for = inputs.scale, inputs.wait_for  # the list itself: filled once the pass is traced
    ctx.save_for_backward(*tensors, inputs.query, inputs.key_t, inputs.bias)


def attention_anew(ctx: Any, after: Tensor, halvings: int = 1) -> tuple[tuple[Tensor, ...], Tensor]:
    """The tensors ``saved_attention`` kept before the attention inputs, and the probabilities anew
    (``AttentionInputs.anew``)."""
    *tensors, query, key_t, bias = ctx.saved_tensors
    return tuple(tensors), AttentionInputs(query, key_t, ctx.scale, bias, ctx.wait_for).anew(after, halvings)


class ChefersContext(Function):
    """The context ``C = A V`` by the product rule [Chefer, eq. 10], the probabilities ``A`` computed anew
    in the backward (``AttentionInputs.anew``) and ``z = A V`` taken from the forward's output. Without a
    head mask each operand's share is halved (``ChefersProduct``); with one [Mask-LRP, sec. 3.2] the rule runs
    on the *unmasked* relevance arriving at ``C`` and each share is halved and multiplied by its head's 0/1
    mask, as Mask-LRP's stored attention relevance does (equal to ``HeadMask`` after ``ChefersProduct``: the
    rule is linear in the relevance and the mask is 0 or 1)."""

    @staticmethod
    def forward(attention: Tensor, value: Tensor, head_mask: Tensor | None, inputs: AttentionInputs) -> Tensor:
        return attention @ value

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        _, value, head_mask, attention_inputs = inputs
        ctx.masked = head_mask is not None
        saved_attention(ctx, attention_inputs, value, output, *([head_mask] if ctx.masked else []))

    @staticmethod
    def backward(ctx: Any, relevance: Tensor) -> tuple[Tensor, Tensor, None, None]:
        (value, product, *mask), attention = attention_anew(ctx, relevance)
        r_attention, r_value = product_relevance(attention, value, relevance, product, square_p=True)
        if not mask:
            return r_attention / 2, r_value / 2, None, None
        scale = mask[0][None, :, None, None].to(relevance.dtype) / 2  # head_mask [heads]
        return r_attention * scale, r_value * scale, None, None


GRADIENT_HALVINGS = 2  # the gradient pass's probabilities anew, distinct from Chefer's (1)


def summed_to(gradient: Tensor, shape: torch.Size) -> Tensor:
    """A broadcast operand's gradient: ``gradient`` summed over the axes where the operand had size 1."""
    axes = [axis for axis, size in enumerate(shape) if size == 1 and gradient.shape[axis] != 1]
    return gradient.sum(dim=axes, keepdim=True) if axes else gradient


class GradientAttention(Function):
    """``A = softmax(Q K^T * scale + bias)`` differentiating as itself, but for the score product's share:
    ``share`` of the gradient goes to each of ``Q`` and ``K`` (1: the gradient; 1/2: AttnLRP's uniform rule).
    Its backward computes ``A`` anew (``AttentionInputs.anew``) instead of keeping it from the forward pass."""

    @staticmethod
    def forward(query: Tensor, key_t: Tensor, bias: Tensor, scale: float, share: float = 1.0) -> Tensor:
        return AttentionInputs(query, key_t, scale, bias).forward()

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        query, key_t, bias, scale, *rest = inputs
        ctx.bias_shape, ctx.share = bias.shape, (rest[0] if rest else 1.0)
        saved_attention(ctx, AttentionInputs(query, key_t, scale, bias))

    @staticmethod
    def backward(ctx: Any, gradient: Tensor) -> tuple[Tensor, Tensor, Tensor | None, None, None]:
        _, attention = attention_anew(ctx, gradient, GRADIENT_HALVINGS)
        query, key_t, _ = ctx.saved_tensors
        scores = attention * (gradient - (gradient * attention).sum(dim=-1, keepdim=True))  # softmax's backward
        product = scores * (ctx.scale * ctx.share)
        bias = summed_to(scores, ctx.bias_shape) if ctx.needs_input_grad[2] else None
        return product @ key_t.transpose(-1, -2), query.transpose(-1, -2) @ product, bias, None, None


class PlainContext(Function):
    """The context ``C = A V`` differentiating as itself (``share`` 1) or by AttnLRP's uniform rule (``share``
    1/2 of the gradient to each operand), its backward computing ``A`` anew for ``V``'s gradient ``A^T dC``
    instead of keeping it from the forward pass."""

    @staticmethod
    def forward(attention: Tensor, value: Tensor, inputs: AttentionInputs, share: float = 1.0) -> Tensor:
        return attention @ value

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        ctx.share = inputs[3] if len(inputs) > 3 else 1.0
        saved_attention(ctx, inputs[2], inputs[1])

    @staticmethod
    def backward(ctx: Any, gradient: Tensor) -> tuple[Tensor, Tensor, None, None]:
        value = ctx.saved_tensors[0]
        at_attention = gradient @ value.transpose(-1, -2)
        if ctx.share != 1.0:
            at_attention = at_attention * ctx.share
        # computed after the gradient at A, which ``GradientAttention``'s backward receives next: the two
        # computations of A are the same operations on the same inputs, and ONNX Runtime runs them once
        _, attention = attention_anew(ctx, at_attention, GRADIENT_HALVINGS)
        at_value = transposed_times(attention, gradient)
        return at_attention, at_value * ctx.share if ctx.share != 1.0 else at_value, None, None


class ChefersLinear(Function):
    """Linear layer ``y = x W^T + b`` whose backward is the alpha-1 LRP rule [Chefer, eq. 4]."""

    @staticmethod
    def forward(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        return torch.nn.functional.linear(x, weight, bias)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        x, weight, bias = inputs
        ctx.has_bias = bias is not None
        ctx.save_for_backward(x, weight, output, bias)

    @staticmethod
    def backward(ctx: Any, relevance: Tensor) -> tuple[Tensor, None, None]:
        x, weight, output, bias = ctx.saved_tensors
        product = output - bias if ctx.has_bias else output  # x W^T, reused from the forward pass
        return linear_relevance(x, weight, relevance, product), None, None


def kept_columns(head_mask: Tensor, head_dim: int) -> Tensor:
    """The output columns of a projection into heads ([heads * head_dim], head-major) that belong to the heads
    ``head_mask`` [heads] keeps (non-zero): a [k] index tensor, its length known only when the mask is."""
    kept = (head_mask != 0)[:, None].expand(head_mask.shape[0], head_dim).reshape(-1)
    return torch.nonzero(kept).flatten()


def flat_rows(t: Tensor) -> Tensor:
    """[..., n] -> [rows, n]: a product of it with a weight computed in the graph (not a constant) is then one
    2-D product; the batched one it is traced as copies the weight for every example first."""
    rows = 1
    for size in t.shape[:-1]:  # not -1: a layer whose heads are all masked has n = 0
        rows = rows * size
    return t.reshape(rows, t.shape[-1])


def kept_part(weight: Tensor, output: Tensor, bias: Tensor | None, columns: Tensor) -> tuple[Tensor, Tensor]:
    """A projection's weight rows and its forward product ``x W^T`` at the kept ``columns`` alone."""
    product = output.index_select(-1, columns)
    if bias is not None:
        product = product - bias.index_select(0, columns)
    return weight.index_select(0, columns), product


class HeadProjection(Function):
    """A query, key or value projection ``y = x W^T + b`` whose backward reads only the output ``columns``
    of the heads a head mask keeps (``kept_columns``)."""

    @staticmethod
    def forward(x: Tensor, weight: Tensor, bias: Tensor | None, columns: Tensor) -> Tensor:
        return torch.nn.functional.linear(x, weight, bias)


class ChefersHeadProjection(HeadProjection):
    """A query, key or value projection ``y = x W^T + b`` by the alpha-1 rule (``ChefersLinear``) where a
    head mask [Mask-LRP, sec. 3.2] stops relevance at the masked heads' contexts: the relevance arriving at
    ``y`` is then exactly 0 in every masked head's columns, and the rule's three matrix products are computed
    over the kept ``columns`` (``kept_columns``) alone, the same values for any mask. A calibrated mask keeps
    a few heads of all (the paper's thresholds keep 2 of 72 on MiniLM): the query, key and value rules were
    a quarter of the Chefer pass's products, nearly all spent on zeros."""

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        x, weight, bias, columns = inputs
        ctx.save_for_backward(x, weight, output, bias, columns)

    @staticmethod
    def backward(ctx: Any, relevance: Tensor) -> tuple[Tensor, None, None, None]:
        x, weight, output, bias, columns = ctx.saved_tensors
        kept_weight, product = kept_part(weight, output, bias, columns)
        rows = flat_rows(x)  # 2-D operands: one product each, not the weight copied for every example
        kept = linear_relevance(rows, kept_weight, flat_rows(relevance.index_select(-1, columns)), flat_rows(product))
        return kept.reshape(x.shape), None, None, None


class GradientHeadProjection(HeadProjection):
    """A query, key or value projection ``y = x W^T + b`` differentiating as itself, where the head mask of a
    masked single-backward rule set makes the gradient at ``y`` exactly 0 in masked heads' columns: its
    backward ``dy W`` is computed over the kept ``columns`` alone (``ChefersHeadProjection``)."""

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        ctx.save_for_backward(inputs[1], inputs[3])

    @staticmethod
    def backward(ctx: Any, gradient: Tensor) -> tuple[Tensor, None, None, None]:
        weight, columns = ctx.saved_tensors
        kept = flat_rows(gradient.index_select(-1, columns)) @ weight.index_select(0, columns)
        return kept.reshape(*gradient.shape[:-1], weight.shape[1]), None, None, None


def split_heads(t: Tensor, heads: int, head_dim: int) -> Tensor:
    """[B, T, heads * d] -> [B, heads, T, d]."""
    return t.reshape(t.shape[0], t.shape[1], heads, head_dim).transpose(1, 2)


def merge_heads(t: Tensor) -> Tensor:
    """[B, heads, T, d] -> [B, T, heads * d]."""
    return t.transpose(1, 2).reshape(t.shape[0], t.shape[2], t.shape[1] * t.shape[3])


class ChefersLinearFromHeads(Function):
    """The attention's output projection of the merged heads' contexts, ``merge(C) W^T + b``, by the alpha-1
    rule (``ChefersLinear``). It keeps the contexts ``C`` in the heads' layout, which the context rule keeps
    anyway, and merges them again (a copy, once the relevance arrives) for the rule's input, instead of
    keeping the merged copy from the forward pass (ONNX materialises the merge as a transposed copy: the
    same [B, T, D] values were kept twice per layer)."""

    @staticmethod
    def forward(context: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        return torch.nn.functional.linear(merge_heads(context), weight, bias)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        context, weight, bias = inputs
        ctx.has_bias, ctx.heads, ctx.head_dim = bias is not None, context.shape[1], context.shape[3]
        ctx.save_for_backward(context, weight, output, bias)

    @staticmethod
    def backward(ctx: Any, relevance: Tensor) -> tuple[Tensor, None, None]:
        context, weight, output, bias = ctx.saved_tensors
        x = merge_heads(context + zero_after(relevance))
        product = output - bias if ctx.has_bias else output
        return split_heads(linear_relevance(x, weight, relevance, product), ctx.heads, ctx.head_dim), None, None


class ChefersActivatedLinear(Function):
    """A feed-forward block's activation and output layer, ``y = f(h) W^T + b``, by Chefer's rules: the
    linear layer's alpha-1 rule (``ChefersLinear``), then the activation's relevance passed through. The
    activated ``f(h)``, which the rule reads, is computed anew in the backward from the pre-activation ``h``
    (which the rule of the layer below keeps anyway) instead of kept from the forward pass: a [B, T, 4 D]
    tensor fewer per layer until the backward pass reaches it, for one element-wise activation more."""

    @staticmethod
    def forward(hidden: Tensor, function: Callable[[Tensor], Tensor], weight: Tensor, bias: Tensor | None) -> Tensor:
        return torch.nn.functional.linear(function(hidden), weight, bias)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        hidden, ctx.function, weight, bias = inputs
        ctx.has_bias = bias is not None
        ctx.save_for_backward(hidden, weight, output, bias)

    @staticmethod
    def backward(ctx: Any, relevance: Tensor) -> tuple[Tensor, None, None, None]:
        hidden, weight, output, bias = ctx.saved_tensors
        activated = ctx.function(hidden + zero_after(relevance))  # waits for the backward to reach it
        product = output - bias if ctx.has_bias else output
        return linear_relevance(activated, weight, relevance, product), None, None, None


class GradientActivation(Function):
    """An element-wise activation ``f(x)`` differentiating as itself, its derivative computed in the backward
    pass once the gradient arrives, from ``x`` alone: nothing else of the forward (``Phi(x)`` of GELU, say)
    is kept for it, and nothing of it is computed before it is needed. ``derivative(x, zero)``, where the
    activation has one in closed form (GELU), takes fewer element-wise passes than differentiating ``f``'s
    operations one by one; ``zero`` is an exact 0 from the arriving gradient for it to wait for."""

    @staticmethod
    def forward(
        x: Tensor,
        function: Callable[[Tensor], Tensor],
        derivative: Callable[[Tensor, Tensor], Tensor] | None = None,
    ) -> Tensor:
        return function(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        x, ctx.function, *rest = inputs
        ctx.derivative = rest[0] if rest else None
        ctx.save_for_backward(x)

    @staticmethod
    def backward(ctx: Any, gradient: Tensor) -> tuple[Tensor, None, None]:
        (x,) = ctx.saved_tensors
        if ctx.derivative is not None:
            return gradient * ctx.derivative(x, zero_after(gradient)), None, None
        with torch.enable_grad():
            late = (x + zero_after(gradient)).detach().requires_grad_(True)
            (result,) = torch.autograd.grad(ctx.function(late), late, gradient)
        return result, None, None


class ChefersResidual(Function):
    """Residual ``z = a + b`` [Chefer, eqs. 8-9]: split ``R`` in proportion to each operand's
    contribution, then rescale each branch to ``|sum R_a| / (|sum R_a| + |sum R_b|) * sum R``, per example."""

    @staticmethod
    def forward(a: Tensor, b: Tensor) -> Tensor:
        return a + b

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        ctx.save_for_backward(*inputs, output)

    @staticmethod
    def backward(ctx: Any, relevance: Tensor) -> tuple[Tensor, Tensor]:
        a, b, z = ctx.saved_tensors
        s = stabilised_divide(relevance, z)
        r_a, r_b = a * s, b * s
        sum_a, sum_b, total = per_example_sum(r_a), per_example_sum(r_b), per_example_sum(relevance)
        share_a = stabilised_divide(sum_a.abs(), sum_a.abs() + sum_b.abs()) * total
        share_b = stabilised_divide(sum_b.abs(), sum_a.abs() + sum_b.abs()) * total
        return r_a * stabilised_divide(share_a, sum_a), r_b * stabilised_divide(share_b, sum_b)


class ProductOfActivations(Function):
    """``z = P @ Q`` of two activations, keeping both operands for a rule's backward."""

    @staticmethod
    def forward(p: Tensor, q: Tensor) -> Tensor:
        return p @ q

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        ctx.save_for_backward(*inputs)


class ChefersProduct(ProductOfActivations):
    """Product of two activations ``z = P @ Q`` (attention scores, context) [Chefer, eq. 10]:
    the product rule, each operand's relevance halved."""

    @staticmethod
    def backward(ctx: Any, relevance: Tensor) -> tuple[Tensor, Tensor]:
        p, q = ctx.saved_tensors
        r_p, r_q = product_relevance(p, q, relevance)
        return r_p / 2, r_q / 2


class ChefersScores(ChefersProduct):
    """The attention scores ``S = Q K^T`` by [Chefer, eq. 10], as ``ChefersProduct``, but the backward
    computes its denominator ``Q K^T`` anew instead of keeping the forward's [batch, heads, T, T] product
    from the forward pass to the backward (96 MiB per layer at 8 x 512 for MiniLM). ONNX Runtime merges
    identical operations, so the product is computed from ``Q / 2``: the rule is the same for any scaling of
    an operand (``R_P = P * ((R / P Q) Q^T)``), and halving is exact, so the values are those of the kept
    product (but for the stabiliser's epsilon, relatively twice as large). One matrix product more per layer."""

    @staticmethod
    def backward(ctx: Any, relevance: Tensor) -> tuple[Tensor, Tensor]:
        p, q = ctx.saved_tensors
        # the denominator waits for the relevance (``zero_after``): it reads forward values only, and an
        # order chosen for memory would otherwise make it early and keep it while the layer's context rule ran
        r_p, r_q = product_relevance(p * 0.5 + zero_after(relevance), q, relevance)
        return r_p / 2, r_q / 2


class RelevancePassthrough(Function):
    """Any shape-preserving operation whose relevance passes through unchanged [Chefer, sec. 3]:
    GELU, tanh, LayerNorm, softmax, dropout, the attention scaling and mask bias."""

    @staticmethod
    def forward(x: Tensor, operation: Callable[[Tensor], Tensor]) -> Tensor:
        return operation(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        pass

    @staticmethod
    def backward(ctx: Any, relevance: Tensor) -> tuple[Tensor, None]:
        return relevance, None


class IdentityRule(Function):
    """Element-wise activation ``y = f(x)`` by the identity rule [Ali, sec. 3.2; AttnLRP, eq. 9]: the
    gradient is scaled by ``f(x) / x``, so that gradient x input passes relevance through unchanged.

    ``ratio(x, zero)`` is ``f(x) / x`` in closed form where the activation has one (GELU: ``Phi(x)``, SiLU:
    ``sigmoid(x)``, ReLU: ``x > 0``): a few element-wise operations instead of the stabilised division, and
    the continuous limit at ``x = 0`` where the division gives 0; ``zero`` is an exact 0 computed from the
    arriving gradient, for a ratio computed only once the backward pass needs it. Without one (tanh) the
    backward divides."""

    @staticmethod
    def forward(
        x: Tensor, activation: Callable[[Tensor], Tensor], ratio: Callable[[Tensor], Tensor] | None = None
    ) -> Tensor:
        return activation(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        ctx.ratio = inputs[2] if len(inputs) > 2 else None
        if ctx.ratio is None:
            ctx.save_for_backward(inputs[0], output)
        else:
            ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx: Any, gradient: Tensor) -> tuple[Tensor, None, None]:
        if ctx.ratio is not None:
            (x,) = ctx.saved_tensors
            return gradient * ctx.ratio(x, zero_after(gradient)), None, None
        x, y = ctx.saved_tensors
        return gradient * stabilised_divide(y, x), None, None


class UniformProduct(ProductOfActivations):
    """Product of two activations ``z = P @ Q`` by the uniform rule [AttnLRP, prop. 3.3]: each operand's
    gradient is halved, so that gradient x input gives each operand half of the product's relevance."""

    @staticmethod
    def backward(ctx: Any, gradient: Tensor) -> tuple[Tensor, Tensor]:
        p, q = ctx.saved_tensors
        return (gradient @ q.transpose(-1, -2)) / 2, (p.transpose(-1, -2) @ gradient) / 2


class ChefersGate(Function):
    """Element-wise product of two activations ``z = a * b`` (the SwiGLU gate) by [Chefer, eq. 10] applied
    element by element: ``R_a = a * b * (R / z) = R`` where ``z != 0``, the same for ``b``, then both halved."""

    @staticmethod
    def forward(a: Tensor, b: Tensor) -> Tensor:
        return a * b

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx: Any, relevance: Tensor) -> tuple[Tensor, Tensor]:
        (z,) = ctx.saved_tensors
        share = z * stabilised_divide(relevance, z) / 2
        return share, share


class UniformGate(Function):
    """Element-wise product of two activations ``z = a * b`` (the SwiGLU gate) by the uniform rule
    [AttnLRP, prop. 3.3]: each operand's gradient is halved, so gradient x input gives each half of ``z``'s
    relevance and the bilinear gate conserves it."""

    @staticmethod
    def forward(a: Tensor, b: Tensor) -> Tensor:
        return a * b

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx: Any, gradient: Tensor) -> tuple[Tensor, Tensor]:
        a, b = ctx.saved_tensors
        return gradient * b / 2, gradient * a / 2


def fused_layer_norm(x: Tensor, weight: Tensor, bias: Tensor | None, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """LayerNorm over the last axis as one operation (ONNX ``LayerNormalization``): the output, the mean and
    the inverse standard deviation, each [..., 1] but the output."""
    return torch.native_layer_norm(x, [x.shape[-1]], weight, bias, eps)


class LayerNormRule(Function):
    """LayerNorm ``y = (x - mean) / std * w + b`` computed by one fused operation, so that every rule set's
    forward pass is the same node, with the backward of its rule set: the ordinary gradient, or with the
    standard deviation held constant [Ali, sec. 3.3; AttnLRP, sec. 3.3.1] (``constant_std``), so that
    gradient x input passes relevance through the centring alone. Both are written out from the forward's
    mean and inverse standard deviation instead of differentiating the operations of a written-out norm."""

    @staticmethod
    def forward(x: Tensor, weight: Tensor, bias: Tensor | None, eps: float, constant_std: bool) -> tuple:
        return fused_layer_norm(x, weight, bias, eps)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: tuple) -> None:
        x, weight, _, _, constant_std = inputs
        _, mean, inverse_std = output
        ctx.constant_std = constant_std
        ctx.mark_non_differentiable(mean, inverse_std)
        ctx.save_for_backward(x, weight, mean, inverse_std)

    @staticmethod
    def backward(ctx: Any, gradient: Tensor, *unused: Tensor) -> tuple[Tensor, None, None, None, None]:
        x, weight, mean, inverse_std = ctx.saved_tensors
        scaled = gradient * weight
        centred = scaled - scaled.mean(dim=-1, keepdim=True)
        if not ctx.constant_std:
            normalised = (x - mean) * inverse_std
            centred = centred - normalised * (scaled * normalised).mean(dim=-1, keepdim=True)
        return inverse_std * centred, None, None, None, None


class HeadMask(Function):
    """[Mask-LRP, sec. 3.2]: the relevance (or modified gradient) arriving at each head's context
    ``C = A V`` is multiplied by that head's 0/1 mask, so masked heads pass nothing to lower layers.
    The forward value is unchanged: head masks never change the prediction."""

    @staticmethod
    def forward(context: Tensor, head_mask: Tensor) -> Tensor:
        return context.clone()

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        ctx.save_for_backward(inputs[1])

    @staticmethod
    def backward(ctx: Any, relevance: Tensor) -> tuple[Tensor, None]:
        (head_mask,) = ctx.saved_tensors  # [heads]; context is [batch, heads, tokens, head_dim]
        return relevance * head_mask[None, :, None, None].to(relevance.dtype), None
