"""The canonical post-norm Transformer encoder classifier (BERT, RoBERTa, ELECTRA, DistilBERT, MPNet), written once
against a rule set. One forward pass records what the explanation methods read afterwards."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from onnxplain.export.architectures import EncoderWeights, Linear, Norm
from onnxplain.export.positions import relative_position_bias
from onnxplain.export.rulesets import Activation, Gradient

SQRT_HALF = math.sqrt(0.5)
SQRT_TWO_OVER_PI = math.sqrt(2.0 / math.pi)


def standard_normal_cdf(x: Tensor) -> Tensor:
    """``Phi(x)``, which is ``gelu(x) / x``."""
    return 0.5 * (1.0 + torch.erf(x * SQRT_HALF))


def tanh_gelu_ratio(x: Tensor) -> Tensor:
    """``gelu_tanh(x) / x``: the tanh approximation of ``Phi(x)``."""
    return 0.5 * (1.0 + torch.tanh(SQRT_TWO_OVER_PI * (x + 0.044715 * x * x * x)))


def relu_ratio(x: Tensor) -> Tensor:
    """``relu(x) / x``: 1 where ``x > 0``, else 0."""
    return (x > 0).to(x.dtype)


def gelu(x: Tensor) -> Tensor:
    """``x * Phi(x)`` written out, so that the identity rule's ratio is the forward pass's own ``Phi(x)``
    (the traced graph computes it once; ``F.gelu`` would hide it in one kernel and the rule recompute it)."""
    return x * standard_normal_cdf(x)


def tanh_gelu(x: Tensor) -> Tensor:
    """The tanh approximation of GELU, written out for the same reason as ``gelu``."""
    return x * tanh_gelu_ratio(x)


# Every activation with its ratio f(x) / x where that has a closed form (tanh has none: the rule divides).
_GELU = Activation(gelu, standard_normal_cdf)
_TANH_GELU = Activation(tanh_gelu, tanh_gelu_ratio)
_SILU = Activation(torch.nn.functional.silu, torch.sigmoid)
ACTIVATIONS = {
    "gelu": _GELU,
    "gelu_new": _TANH_GELU,
    "gelu_pytorch_tanh": _TANH_GELU,
    "relu": Activation(torch.relu, relu_ratio),
    "tanh": Activation(torch.tanh),
    "silu": _SILU,
    "swish": _SILU,
}

# MPNet's relative position buckets: Hugging Face computes 32 buckets up to distance 128 whatever the config.
RELATIVE_ATTENTION_BUCKETS = 32
RELATIVE_ATTENTION_MAX_DISTANCE = 128


def activation_function(name: str) -> Activation:
    if name not in ACTIVATIONS:
        raise NotImplementedError(f"activation {name!r} has no rule; known: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


@dataclass
class Trace:
    """What one forward pass through a rule set leaves for the methods.

    ``embeddings`` is the summed input embedding (word + position + token type, before the embedding norm),
    a leaf of the autograd graph. ``contexts[l]`` is each head's context ``A_l V_l`` *after* the head mask,
    so what arrives there in the backward pass is the unmasked context relevance of layer ``l``.

    With ``explained_rows_only`` the last layer ran for the explained position's query alone (the only row
    the logits read): its attention and context are [B, H, 1, ...] and its hidden state [B, 1, D], and
    ``last_full_attention`` computes that layer's attention for every query, for the methods that read it.
    """

    logits: Tensor
    embeddings: Tensor
    word_embeddings: Tensor  # the word part of ``embeddings`` (no gradient of its own)
    explained_position: Tensor  # [B] int64: the token whose final state the logits read (encoders: 0)
    causal: bool = False  # attention rows reach only keys at or before the query (decoders)
    attentions: list[Tensor] = field(default_factory=list)  # [B, H, T, T]
    values: list[Tensor] = field(default_factory=list)  # [B, H, T, d]
    contexts: list[Tensor] = field(default_factory=list)  # [B, H, T, d]
    hidden_states: list[Tensor] = field(default_factory=list)  # output of each layer, [B, T, D]
    explained_rows_only: bool = False
    last_full_attention: Callable[[], Tensor] | None = None


def position_ids(weights: EncoderWeights, input_ids: Tensor) -> Tensor:
    if weights.position_scheme == "after-padding":
        is_token = (input_ids != weights.position_padding_id).to(torch.int64)
        return torch.cumsum(is_token, dim=1) * is_token + weights.position_padding_id
    return torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0).expand_as(input_ids)


def attention_bias(attention_mask: Tensor) -> Tensor:
    """Additive bias [B, 1, 1, T]: 0 for tokens, the most negative float for padding."""
    blocked = (1.0 - attention_mask.to(torch.float32))[:, None, None, :]
    return blocked * torch.finfo(torch.float32).min


def encode(
    weights: EncoderWeights,
    rules: Gradient,
    input_ids: Tensor,
    attention_mask: Tensor,
    token_type_ids: Tensor | None,
    head_mask: Tensor,
    explained_rows_only: bool = False,
) -> Trace:
    """Run the classifier through ``rules``; ``head_mask`` is [layers, heads] and is used by masked rule sets.

    ``explained_rows_only``: a classifier's logits read token 0 of the last layer alone, so that layer's query,
    attention output and feed-forward block run for that token only (its keys and values for every token).
    Every value the logits and the explanation methods read is the same; the last layer costs a fraction."""

    def linear(x: Tensor, layer: Linear) -> Tensor:
        return rules.linear(x, layer.weight, layer.bias)

    def norm(x: Tensor, layer: Norm) -> Tensor:
        return rules.norm(x, layer.weight, layer.bias, layer.eps)

    words = weights.word_embeddings[input_ids]
    embeddings = words + weights.position_embeddings[position_ids(weights, input_ids)]
    if weights.token_type_embeddings is not None:
        types = torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
        embeddings = embeddings + weights.token_type_embeddings[types]
    embeddings = embeddings.detach().requires_grad_(True)
    explained = torch.zeros(input_ids.shape[0], dtype=torch.int64, device=input_ids.device)
    trace = Trace(logits=embeddings, embeddings=embeddings, word_embeddings=words, explained_position=explained)
    trace.explained_rows_only = explained_rows_only and weights.span_head is None

    x = norm(embeddings, weights.embedding_norm)
    if weights.embedding_projection is not None:
        x = linear(x, weights.embedding_projection)

    batch, tokens, hidden = x.shape
    heads = weights.num_heads
    head_dim = hidden // heads
    bias = attention_bias(attention_mask)
    if weights.relative_attention_bias is not None:
        bias = bias + relative_position_bias(
            weights.relative_attention_bias, tokens, RELATIVE_ATTENTION_BUCKETS, RELATIVE_ATTENTION_MAX_DISTANCE
        )
    feed_forward_activation = activation_function(weights.activation)

    def split_heads(t: Tensor) -> Tensor:
        return t.reshape(batch, t.shape[1], heads, head_dim).transpose(1, 2)

    def attention_probabilities(queries: Tensor, key: Tensor, layer_bias: Tensor) -> Tensor:
        scores = rules.attention_scores(queries, key.transpose(-1, -2), 1.0 / math.sqrt(head_dim), layer_bias)
        return rules.softmax(scores)

    rows_only, last = trace.explained_rows_only, len(weights.layers) - 1
    for index, layer in enumerate(weights.layers):
        one_row = rows_only and index == last
        rows = x[:, :1] if one_row else x  # the queries this layer computes
        query = split_heads(linear(rows, layer.query))
        key = split_heads(linear(x, layer.key))
        value = split_heads(linear(x, layer.value))
        attention = attention_probabilities(query, key, bias[:, :, :1] if one_row else bias)
        if one_row:  # every query's attention, for the methods that read it (AttCAT)
            trace.last_full_attention = lambda x=x, key=key, weights=layer.query: attention_probabilities(
                split_heads(linear(x, weights)), key, bias
            )
        context = rules.head_mask(rules.context(attention, value), head_mask[index])
        trace.attentions.append(attention)
        trace.values.append(value)
        trace.contexts.append(context)
        merged = context.transpose(1, 2).reshape(batch, rows.shape[1], hidden)
        x = norm(rules.residual(linear(merged, layer.attention_output), rows), layer.attention_norm)
        inner = rules.activation(feed_forward_activation, linear(x, layer.intermediate))
        x = norm(rules.residual(linear(inner, layer.output), x), layer.output_norm)
        trace.hidden_states.append(x)

    if weights.span_head is not None:  # question answering: [B, T, 2] start and end logits of every token
        trace.logits = linear(x, weights.span_head)
        return trace
    pooled = x[:, 0]
    for dense, activation in weights.classifier:
        pooled = linear(pooled, dense)
        if activation is not None:
            pooled = rules.activation(activation_function(activation), pooled)
    trace.logits = pooled
    return trace
