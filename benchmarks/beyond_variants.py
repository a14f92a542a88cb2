"""Every explanation variant the Beyond-Mask-LRP experiment (issue 9) compares, in eager PyTorch.

A variant is a function of one batch (``Batch``) that returns the [B, T] relevance of every example. The
baselines call ``onnxplain.export.explain.explain`` itself; the candidates are built here from the same
rule sets and traces, so that a winner can move into ``methods.py`` unchanged.

Axes explored (issue 9, "directions worth testing"):
- what is explained: the target logit (``logit``, what every baseline explains) or the target's
  log-probability (``contrast``: the backward pass starts from ``one_hot - softmax``; for two labels that
  is the logit *difference*, the only thing the deletion probability depends on);
- what the gradient multiplies: the input (``x``) or the input's difference to the pad token that the
  deletion protocol substitutes (``delta``: ``w_token - w_pad`` on the word embedding);
- which rule set gives the gradient: the ordinary one, CP-LRP or AttnLRP;
- head masks on the single-backward rule sets and on Mask-LRP: calibrated (SPEC section 3), by each head's
  share of relevance on the training split, random ones of the same size, none, all;
- AttCAT with LRP relevance of the hidden states in place of gradient x hidden state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from onnxplain.export.canonical import forward
from onnxplain.export.explain import explain
from onnxplain.export.methods import (
    attcat,
    chefer_rollout,
    ordered_above,
    ranks,
    removable_tokens,
    stored_attention_relevance,
)
from onnxplain.export.rulesets import AttnLRP, Chefer, ConservativePropagation, Gradient
from onnxplain.export.trace import Trace


@dataclass
class Batch:
    weights: object  # EncoderWeights
    input_ids: Tensor
    attention_mask: Tensor
    target: Tensor  # gold labels
    head_mask: Tensor  # the calibrated default

    @property
    def token_mask(self) -> Tensor:
        return self.attention_mask.to(torch.float32)


Variant = Callable[[Batch], Tensor]
RULES: dict[str, Callable[[bool], Gradient]] = {
    "grad": lambda masked: Gradient(),
    "cp": lambda masked: ConservativePropagation(head_masked=masked),
    "attn": lambda masked: AttnLRP(head_masked=masked),
}


def run(batch: Batch, rules: Gradient, head_mask: Tensor | None = None) -> Trace:
    mask = batch.head_mask if head_mask is None else head_mask
    return forward(batch.weights, rules, batch.input_ids, batch.attention_mask, None, mask)


def start_vector(logits: Tensor, target: Tensor, explained: str) -> Tensor:
    """What the backward pass starts from: the target's one-hot (``logit``) or the gradient of the target's
    log-probability with respect to the logits, ``one_hot - softmax`` (``contrast``)."""
    one_hot = torch.nn.functional.one_hot(target, logits.shape[-1]).to(logits.dtype)
    if explained == "logit":
        return one_hot
    return one_hot - torch.softmax(logits.detach(), dim=-1)


def pad_difference(batch: Batch, trace: Trace) -> Tensor:
    """``w_token - w_pad`` per token: what the deletion protocol removes from the summed embedding."""
    pad = batch.weights.word_embeddings[batch.weights.pad_token_id]
    return trace.word_embeddings - pad


def baseline(method: str, head_mask: Tensor | None = None) -> Variant:
    def variant(batch: Batch) -> Tensor:
        mask = batch.head_mask if head_mask is None else head_mask
        outputs = explain(batch.weights, batch.input_ids, batch.attention_mask, None, batch.target, mask, [method])
        return outputs[method]

    return variant


def gradient_times(rule: str, multiplier: str, explained: str, head_mask: Tensor | None = None) -> Variant:
    """Gradient (of rule set ``rule``) of the explained quantity at the summed embedding, times the
    embedding itself (``x``), the word embedding (``word``) or its difference to the pad token (``delta``)."""

    def variant(batch: Batch) -> Tensor:
        with torch.enable_grad():
            trace = run(batch, RULES[rule](head_mask is not None), head_mask)
            start = start_vector(trace.logits, batch.target, explained)
            (gradient,) = torch.autograd.grad(trace.logits, [trace.embeddings], grad_outputs=start)
        factor = {
            "x": trace.embeddings.detach(),
            "word": trace.word_embeddings,
            "delta": pad_difference(batch, trace),
        }[multiplier]
        return (gradient * factor).sum(dim=-1) * batch.token_mask

    return variant


def integrated_gradients(steps: int, explained: str) -> Variant:
    """Integrated gradients from the all-pad input (the deletion protocol's last step) to the input along
    the word embeddings, ``steps`` right-end Riemann points (``steps = 1`` is gradient x delta)."""

    def variant(batch: Batch) -> Tensor:
        weights = batch.weights
        words = weights.word_embeddings[batch.input_ids]
        pad = weights.word_embeddings[weights.pad_token_id]
        total = torch.zeros_like(batch.token_mask)
        flat_ids = torch.arange(batch.input_ids.numel()).reshape(batch.input_ids.shape) + len(weights.word_embeddings)
        for step in range(1, steps + 1):
            alpha = step / steps
            rows = (pad + alpha * (words - pad)).reshape(-1, words.shape[-1])
            shifted = dataclasses.replace(weights, word_embeddings=torch.cat([weights.word_embeddings, rows]))
            ids = torch.where(batch.attention_mask.bool(), flat_ids, batch.input_ids)
            with torch.enable_grad():
                trace = forward(shifted, Gradient(), ids, batch.attention_mask, None, batch.head_mask)
                start = start_vector(trace.logits, batch.target, explained)
                (gradient,) = torch.autograd.grad(trace.logits, [trace.embeddings], grad_outputs=start)
            total = total + (gradient * (words - pad)).sum(dim=-1) / steps
        return total * batch.token_mask

    return variant


def lrp_attcat(rule: str, explained: str, attention_weighted: bool = True) -> Variant:
    """AttCAT with the relevance of each layer's hidden state (rule-set gradient x hidden state) in place of
    the ordinary gradient x hidden state; ``rule = grad`` with ``logit`` is AttCAT itself."""

    def variant(batch: Batch) -> Tensor:
        with torch.enable_grad():
            trace = run(batch, RULES[rule](False))
            start = start_vector(trace.logits, batch.target, explained)
            gradients = torch.autograd.grad(trace.logits, trace.hidden_states, grad_outputs=start)
        if attention_weighted:
            return attcat(trace, [g.detach() for g in gradients], batch.token_mask).detach() * batch.token_mask
        total = sum((g * h).sum(dim=-1) for g, h in zip(gradients, trace.hidden_states, strict=True))
        return total.detach() * batch.token_mask

    return variant


def chefer_family(explained: str, head_mask: Tensor | None, masked: bool) -> Variant:
    """TransAtt (``masked=False``) or Mask-LRP with the given head mask, explaining ``explained``."""

    def variant(batch: Batch) -> Tensor:
        mask = batch.head_mask if head_mask is None else head_mask
        with torch.enable_grad():
            plain = run(batch, Gradient(), mask)
            start = start_vector(plain.logits, batch.target, explained)
            gradients = torch.autograd.grad(plain.logits, plain.attentions, grad_outputs=start)
            trace = run(batch, Chefer(head_masked=masked), mask)
            context_relevance = torch.autograd.grad(trace.logits, trace.contexts, grad_outputs=start)
        stored = stored_attention_relevance(trace, context_relevance, masked)
        return chefer_rollout(gradients, stored).detach() * batch.token_mask

    return variant


def head_relevance(batch: Batch, rule: str, explained: str) -> Tensor:
    """[layers, heads]: each head's share of the relevance passing through its context (rule-set gradient x
    context, summed over tokens and features, absolute), normalised per example and summed over the batch."""
    with torch.enable_grad():
        trace = run(batch, RULES[rule](False))
        start = start_vector(trace.logits, batch.target, explained)
        gradients = torch.autograd.grad(trace.logits, trace.contexts, grad_outputs=start)
    mask = batch.token_mask[:, None, :, None]
    per_head = torch.stack(
        [((g * c) * mask).sum(dim=(2, 3)).abs() for g, c in zip(gradients, trace.contexts, strict=True)], dim=1
    )  # [B, layers, heads]
    per_head = per_head / per_head.sum(dim=(1, 2), keepdim=True).clamp(min=1e-12)
    return per_head.sum(dim=0).detach()


def lookahead(rule: str, multiplier: str, explained: str, fractions: tuple[float, ...], merge: str) -> Variant:
    """Deletion-aware relevance, as ``cp-lrp-lookahead`` does it (``methods.lookahead_relevance``) but with
    any single-pass variant: explain, replace the top ``fractions[0]`` of the removable tokens by the pad
    token, explain the result again, and so on; one pass per fraction plus one. ``merge = order``: the
    tokens replaced after pass ``j`` rank above everything later (``methods.ordered_above``);
    ``merge = last``: each token keeps the relevance of the last pass in which it was still present."""
    base = gradient_times(rule, multiplier, explained)

    def variant(batch: Batch) -> Tensor:
        weights = batch.weights
        explained_position = torch.zeros(batch.input_ids.shape[0], dtype=torch.int64)
        removable = removable_tokens(batch.input_ids, batch.token_mask, explained_position, weights.special_token_ids)
        count = removable.sum(dim=1, keepdim=True).to(torch.float32)
        present, ids, share = removable, batch.input_ids, 0.0
        groups: list[tuple[Tensor, Tensor]] = []
        relevance = base(batch).detach()
        for fraction in fractions:
            share += fraction
            wanted = torch.round(share * count) - (removable & ~present).sum(dim=1, keepdim=True)
            now = present & (ranks(relevance, present) < wanted)
            groups.append((now, relevance))
            present = present & ~now
            ids = torch.where(now, weights.pad_token_id, ids)
            relevance = base(dataclasses.replace(batch, input_ids=ids)).detach()
        if merge == "order":
            merged = ordered_above(groups, relevance, present)
        else:
            merged = relevance
            for chosen, values in groups:
                merged = torch.where(chosen, values, merged)
        return merged * batch.token_mask

    return variant
