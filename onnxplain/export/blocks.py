"""The building blocks both canonical models share, applied through a rule set: a linear layer, a LayerNorm
and the multi-head self-attention block (grouped-query attention, rotary embedding and the head mask
included), which records what the methods read in the ``Trace``."""

from __future__ import annotations

import math

from torch import Tensor

from onnxplain.export.architectures.weights import Linear, Norm, SelfAttention
from onnxplain.export.rules import AttentionInputs, kept_columns, split_heads
from onnxplain.export.rulesets import Gradient
from onnxplain.export.trace import Trace


def linear(rules: Gradient, x: Tensor, layer: Linear) -> Tensor:
    return rules.linear(x, layer.weight, layer.bias)


def layer_norm(rules: Gradient, x: Tensor, layer: Norm) -> Tensor:
    return rules.norm(x, layer.weight, layer.bias, layer.eps)


def head_columns(
    rules: Gradient, head_mask: Tensor, heads: int, kv_heads: int, head_dim: int
) -> tuple[Tensor | None, Tensor | None]:
    """The query and the key/value projections' output columns of the heads ``head_mask`` keeps (a key/value
    head is kept where any query head it serves is), for a masked rule set; None for the others."""
    if not rules.head_masked:
        return None, None
    query = kept_columns(head_mask, head_dim)
    if kv_heads == heads:
        return query, query
    kv_mask = head_mask.reshape(kv_heads, heads // kv_heads).abs().amax(dim=-1)
    return query, kept_columns(kv_mask, head_dim)


def projection(rules: Gradient, x: Tensor, layer: Linear, columns: Tensor | None) -> Tensor:
    return rules.head_projection(x, layer.weight, layer.bias, columns)


def repeat_key_value_heads(t: Tensor, repeats: int) -> Tensor:
    """[B, KV, T, d] -> [B, KV * repeats, T, d], each key/value head serving ``repeats`` query heads in turn
    (grouped-query attention)."""
    if repeats == 1:
        return t
    batch, kv_heads, tokens, dim = t.shape
    return t[:, :, None].expand(batch, kv_heads, repeats, tokens, dim).reshape(batch, kv_heads * repeats, tokens, dim)


def attention_inputs(query: Tensor, key: Tensor, bias: Tensor, head_dim: int) -> AttentionInputs:
    """What ``softmax(Q K^T / sqrt(head_dim) + bias)`` is computed from."""
    return AttentionInputs(query, key.transpose(-1, -2), 1.0 / math.sqrt(head_dim), bias)


def self_attention(
    rules: Gradient,
    x: Tensor,
    weights: SelfAttention,
    heads: int,
    head_dim: int,
    bias: Tensor,
    head_mask: Tensor,
    trace: Trace,
    kv_heads: int | None = None,
    rotation: tuple[Tensor, Tensor] | None = None,
    query_rows: int | None = None,
) -> Tensor:
    """The attention block's output (after its output projection, before the residual add): [B, T, D], or
    [B, query_rows, D] when only the first ``query_rows`` tokens' queries are computed (keys and values are
    every token's; an encoder classifier's last layer needs its explained token alone, and the attention of
    every query then stays available as ``trace.last_full_attention``).

    ``bias`` is added to the scaled scores (padding, causality, relative positions); ``head_mask`` [heads]
    scales each head's context (masked rule sets only); ``kv_heads`` (default ``heads``) key/value heads
    each serve ``heads // kv_heads`` query heads; ``rotation`` is the rotary embedding's cos and sin. The
    attention probabilities, values and masked contexts are appended to ``trace``."""
    kv_heads = heads if kv_heads is None else kv_heads
    # contiguous: torch.matmul folds a 3-D input into one 2-D product only when it is contiguous; a sliced
    # input that requires grad would otherwise become a batched product with the weight expanded to [B, D, D]
    rows = x if query_rows is None else x[:, :query_rows].contiguous()
    query_columns, kv_columns = head_columns(rules, head_mask, heads, kv_heads, head_dim)
    query = split_heads(projection(rules, rows, weights.query, query_columns), heads, head_dim)
    key = split_heads(projection(rules, x, weights.key, kv_columns), kv_heads, head_dim)
    value = split_heads(projection(rules, x, weights.value, kv_columns), kv_heads, head_dim)
    if rotation is not None:
        if query_rows is not None:
            raise ValueError("query_rows with a rotary embedding is not supported")
        query, key = rules.rotary(query, *rotation), rules.rotary(key, *rotation)
    key = repeat_key_value_heads(key, heads // kv_heads)
    value = repeat_key_value_heads(value, heads // kv_heads)
    inputs = attention_inputs(query, key, bias if query_rows is None else bias[:, :, :query_rows], head_dim)
    attention = rules.attention(inputs)
    if query_rows is not None:
        trace.last_full_attention = lambda: rules.attention(
            attention_inputs(split_heads(linear(rules, x, weights.query), heads, head_dim), key, bias, head_dim)
        )
    context = rules.masked_context(attention, value, head_mask, inputs)
    trace.attentions.append(attention)
    trace.attention_inputs.append(inputs)
    trace.values.append(value)
    trace.contexts.append(context)
    return rules.linear_from_heads(context, weights.output.weight, weights.output.bias)
