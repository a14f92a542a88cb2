"""``Trace``: what one forward pass of a canonical model through a rule set leaves for the methods."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from torch import Tensor

from onnxplain.export.rules import AttentionInputs


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
    attention_inputs: list[AttentionInputs] = field(default_factory=list)  # what each layer's came from
    values: list[Tensor] = field(default_factory=list)  # [B, H, T, d]
    contexts: list[Tensor] = field(default_factory=list)  # [B, H, T, d]
    hidden_states: list[Tensor] = field(default_factory=list)  # output of each layer, [B, T, D]
    explained_rows_only: bool = False
    last_full_attention: Callable[[], Tensor] | None = None
