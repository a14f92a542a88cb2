"""The canonical post-norm Transformer encoder (BERT, RoBERTa, ELECTRA, DistilBERT, MPNet), written once
against a rule set, with a classifier or a span head on top. One forward pass records what the explanation
methods read afterwards."""

from __future__ import annotations

import torch
from torch import Tensor

from onnxplain.export.activations import activation_function
from onnxplain.export.architectures.encoders import EncoderWeights
from onnxplain.export.blocks import layer_norm, linear, self_attention
from onnxplain.export.positions import relative_position_bias
from onnxplain.export.rulesets import Gradient
from onnxplain.export.trace import Trace

# MPNet's relative position buckets: Hugging Face computes 32 buckets up to distance 128 whatever the config.
RELATIVE_ATTENTION_BUCKETS = 32
RELATIVE_ATTENTION_MAX_DISTANCE = 128


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
    """Run the classifier through ``rules``; ``head_mask`` is [layers, heads] and is used by masked rule sets."""
    words = weights.word_embeddings[input_ids]
    embeddings = words + weights.position_embeddings[position_ids(weights, input_ids)]
    if weights.token_type_embeddings is not None:
        types = torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
        embeddings = embeddings + weights.token_type_embeddings[types]
    embeddings = embeddings.detach().requires_grad_(True)
    explained = torch.zeros(input_ids.shape[0], dtype=torch.int64, device=input_ids.device)
    trace = Trace(logits=embeddings, embeddings=embeddings, word_embeddings=words, explained_position=explained)
    trace.explained_rows_only = explained_rows_only and weights.span_head is None

    x = layer_norm(rules, embeddings, weights.embedding_norm)
    if weights.embedding_projection is not None:
        x = linear(rules, x, weights.embedding_projection)

    tokens, hidden = x.shape[1], x.shape[2]
    heads = weights.num_heads
    bias = attention_bias(attention_mask)
    if weights.relative_attention_bias is not None:
        bias = bias + relative_position_bias(
            weights.relative_attention_bias, tokens, RELATIVE_ATTENTION_BUCKETS, RELATIVE_ATTENTION_MAX_DISTANCE
        )
    feed_forward_activation = activation_function(weights.activation)

    last = len(weights.layers) - 1
    for index, layer in enumerate(weights.layers):
        rows = 1 if trace.explained_rows_only and index == last else None  # the queries this layer computes
        attended = self_attention(
            rules, x, layer.attention, heads, hidden // heads, bias, head_mask[index], trace, query_rows=rows
        )
        x = layer_norm(rules, rules.residual(attended, x if rows is None else x[:, :rows]), layer.attention_norm)
        inner = linear(rules, x, layer.intermediate)  # before the activation
        output = rules.activated_linear(feed_forward_activation, inner, layer.output.weight, layer.output.bias)
        x = layer_norm(rules, rules.residual(output, x), layer.output_norm)
        trace.hidden_states.append(x)

    if weights.span_head is not None:  # question answering: [B, T, 2] start and end logits of every token
        trace.logits = linear(rules, x, weights.span_head)
        return trace
    pooled = x[:, 0]
    for dense, activation in weights.classifier:
        pooled = linear(rules, pooled, dense)
        if activation is not None:
            pooled = rules.activation(activation_function(activation), pooled)
    trace.logits = pooled
    return trace
