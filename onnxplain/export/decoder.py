"""The canonical pre-norm causal decoder (GPT-2, Llama, Qwen2, Mistral), written once against a rule set.

Conventions shared by every decoder task:

- Positions count real tokens only (``positions.real_token_positions``), so a left- or right-padded text
  gives exactly what it gives unpadded, and an explanation never depends on the rest of its batch.
- Attention is causal and never reaches padding. The mask is built with ``where``, never by adding two
  large negative numbers (which would overflow to -inf and make fully masked padding rows NaN).
- The explained position is each example's last real token, wherever the padding is: the token whose
  final hidden state Hugging Face's classification heads read, and the one that predicts the next token.
"""

from __future__ import annotations

import torch
from torch import Tensor

from onnxplain.export.activations import activation_function
from onnxplain.export.architectures.decoders import DecoderWeights
from onnxplain.export.architectures.weights import Norm
from onnxplain.export.blocks import layer_norm, linear, self_attention
from onnxplain.export.positions import real_token_positions, rotary_angles
from onnxplain.export.rulesets import Gradient
from onnxplain.export.trace import Trace


def last_real_token(attention_mask: Tensor) -> Tensor:
    """[B] index of each example's last real token (left or right padding)."""
    indices = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return (indices[None, :] * attention_mask.to(torch.int64)).amax(dim=1)


def causal_attention_bias(attention_mask: Tensor) -> Tensor:
    """Additive bias [B, 1, T, T]: 0 where the key is a real token at or before the query, else the most
    negative float."""
    tokens = attention_mask.shape[1]
    indices = torch.arange(tokens, device=attention_mask.device)
    causal = indices[None, :] <= indices[:, None]  # [query, key]
    allowed = causal[None, None] & attention_mask.bool()[:, None, None, :]
    blocked = torch.full((), torch.finfo(torch.float32).min, device=attention_mask.device)
    return torch.where(allowed, torch.zeros((), device=attention_mask.device), blocked)


def decode(
    weights: DecoderWeights, rules: Gradient, input_ids: Tensor, attention_mask: Tensor, head_mask: Tensor
) -> Trace:
    """Run the decoder through ``rules`` and read the head at each example's last real token.

    The input relevance lives on the summed input embedding (word + learned position, the start of the
    residual stream); ``head_mask`` is [layers, query heads]."""

    def norm(x: Tensor, layer: Norm) -> Tensor:
        if weights.rms_norm:
            return rules.rms_norm(x, layer.weight, layer.eps)
        return layer_norm(rules, x, layer)

    positions = real_token_positions(attention_mask)
    words = weights.word_embeddings[input_ids]
    embeddings = words if weights.position_embeddings is None else words + weights.position_embeddings[positions]
    embeddings = embeddings.detach().requires_grad_(True)
    explained = last_real_token(attention_mask)
    trace = Trace(
        logits=embeddings, embeddings=embeddings, word_embeddings=words, explained_position=explained, causal=True
    )

    batch = embeddings.shape[0]
    heads, kv_heads, head_dim = weights.num_heads, weights.num_key_value_heads, weights.head_dim
    bias = causal_attention_bias(attention_mask)
    rotation = None if weights.rotary_base is None else rotary_angles(positions, head_dim, weights.rotary_base)
    feed_forward_activation = activation_function(weights.activation)

    x = embeddings
    for index, layer in enumerate(weights.layers):
        normed = norm(x, layer.attention_norm)
        attended = self_attention(
            rules, normed, layer.attention, heads, head_dim, bias, head_mask[index], trace, kv_heads, rotation
        )
        x = rules.residual(attended, x)
        normed = norm(x, layer.feed_forward_norm)
        if layer.gate is None:
            inner = rules.activation(feed_forward_activation, linear(rules, normed, layer.up))
        else:
            gate = rules.activation(feed_forward_activation, linear(rules, normed, layer.gate))
            inner = rules.gate(gate, linear(rules, normed, layer.up))
        x = rules.residual(linear(rules, inner, layer.down), x)
        trace.hidden_states.append(x)

    final = norm(x, weights.final_norm)
    # as in Hugging Face's hidden_states, the last layer's output is recorded after the final norm: the
    # raw residual stream would give AttCAT nothing there (norms are scale-invariant, so gradient x input
    # through them is 0)
    trace.hidden_states[-1] = final
    last = final.gather(1, explained[:, None, None].expand(batch, 1, final.shape[-1])).squeeze(1)
    trace.logits = linear(rules, last, weights.head)
    return trace
