"""The arithmetic of the explanation methods of SPEC section 2, from the forward and backward passes through
rule sets (``passes.py``); ``registry.py`` says which method uses which.

Methods that read one row of an attention-like matrix (raw attention, rollout, TransAtt, Mask-LRP, partial
LRP, attention GradCAM) read the row of the *explained position*: token 0 ([CLS]) for encoders, the last
real token for decoders. SPEC 2.2 step 7 zeroes ``J[0, 0]``, the explained token's relevance to itself;
in general that is ``J[p, p]`` at the explained position ``p``, which is what is zeroed here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from onnxplain.export.rules import product_relevance
from onnxplain.export.trace import Trace


def target_one_hot(logits: Tensor, target: Tensor) -> Tensor:
    """One-hot [B, labels] of the class to explain per example; a negative target means the predicted one."""
    chosen = torch.where(target < 0, logits.argmax(dim=-1), target)
    classes = torch.arange(logits.shape[-1], device=logits.device)
    return (classes[None, :] == chosen[:, None]).to(logits.dtype)


def log_probability_seed(seed: Tensor, logits: Tensor, token_mask: Tensor) -> Tensor:
    """The gradient of the explained logit's log-softmax with respect to the logits, from its one-hot
    ``seed``: ``seed - softmax * sum(seed)`` over the axis the softmax runs on (labels; for [B, T, 2]
    question-answering logits, the real tokens). For two labels it is proportional to the one-hot of the
    logit *difference*, the only thing the class probability depends on."""
    if logits.dim() == 2:
        return seed - torch.softmax(logits, dim=-1) * seed.sum(dim=-1, keepdim=True)
    masked = torch.where(token_mask[..., None] > 0, logits, torch.finfo(logits.dtype).min)
    return seed - torch.softmax(masked, dim=1) * seed.sum(dim=1, keepdim=True)


def pad_reference_relevance(trace: Trace, seed: Tensor, pad_embedding: Tensor, token_mask: Tensor) -> Tensor:
    """``cp-lrp-pad``: the rule set's gradient of the target's log-probability at the summed embedding,
    times ``w_token - w_pad``, summed over features. A token equal to the pad token gets exactly 0: the
    relevance estimates what replacing the token by the pad token (the deletion protocol) removes."""
    log_probability = log_probability_seed(seed, trace.logits.detach(), token_mask)
    (gradient,) = backward(trace, log_probability, [trace.embeddings])
    return (gradient * (trace.word_embeddings - pad_embedding)).sum(dim=-1)


def removable_tokens(input_ids: Tensor, token_mask: Tensor, position: Tensor, special_ids: Sequence[int]) -> Tensor:
    """[B, T] bool: the real tokens the deletion protocol may replace, i.e. neither padding, nor a token the
    tokenizer adds (``special_ids``), nor the explained position."""
    positions = torch.arange(input_ids.shape[1], device=input_ids.device)
    removable = (token_mask > 0) & (positions[None, :] != position[:, None])
    for special in special_ids:
        removable = removable & (input_ids != special)
    return removable


def ranks(scores: Tensor, among: Tensor) -> Tensor:
    """[B, T] int: each token's place (0 = highest score) among the tokens of ``among``, ties going left to
    right (the deletion protocol's order); computed by pairwise comparison, which exports as plain tensor ops."""
    tokens = scores.shape[1]
    index = torch.arange(tokens, device=scores.device)
    other, this = scores[:, None, :], scores[:, :, None]
    ahead = (other > this) | ((other == this) & (index[None, None, :] < index[None, :, None]))
    return (ahead & among[:, None, :]).sum(dim=-1)


def ordered_above(groups: Sequence[tuple[Tensor, Tensor]], values: Tensor, rest: Tensor) -> Tensor:
    """Merge relevance maps: ``values`` everywhere, except that the tokens of ``groups[j]`` (a [B, T] bool
    selection and that group's values) take their group's values, raised where needed just above every
    later group and every token of ``rest``, so that each group ranks above all that follows it. Values stay
    in relevance units; only the raise is added."""
    merged = values
    below = torch.where(rest, values, -torch.inf).amax(dim=1, keepdim=True)
    scale = values.abs().amax(dim=1, keepdim=True)
    for chosen, group_values in reversed(groups):
        scale = torch.maximum(scale, group_values.abs().amax(dim=1, keepdim=True))
        lowest = torch.where(chosen, group_values, torch.inf).amin(dim=1, keepdim=True)
        gap = torch.where(torch.isfinite(below) & torch.isfinite(lowest), below - lowest + 1e-3 * scale, 0.0)
        raised = group_values + gap.clamp(min=0)
        merged = torch.where(chosen, raised, merged)
        below = torch.maximum(below, torch.where(chosen, raised, -torch.inf).amax(dim=1, keepdim=True))
    return merged


def lookahead_relevance(
    rerun: Callable[[Tensor], Trace],
    first: Tensor,
    input_ids: Tensor,
    seed: Tensor,
    pad_embedding: Tensor,
    pad_token_id: int,
    token_mask: Tensor,
    removable: Tensor,
    fractions: Sequence[float],
) -> Tensor:
    """``cp-lrp-lookahead``: ``cp-lrp-pad`` on the input (``first``); then, after each pass, the top
    ``fractions[j]`` of the removable tokens (by the last pass's relevance, as a share of all removable ones)
    are replaced by the pad token, exactly as the deletion evaluation will replace them, and what is left is
    explained again
    (``rerun`` is a forward pass through the same rule set on new ids). Tokens replaced after pass ``j`` rank
    above all later ones and keep the relevance they had when replaced (raised just enough to stay on top);
    the rest keep the last pass's. One forward and one backward pass per pass."""
    relevance = first
    present = removable
    count = removable.sum(dim=1, keepdim=True).to(relevance.dtype)
    groups: list[tuple[Tensor, Tensor]] = []
    share = 0.0
    ids = input_ids
    for fraction in fractions:
        share += fraction
        wanted = torch.round(share * count) - (removable & ~present).sum(dim=1, keepdim=True)
        now = present & (ranks(relevance, present) < wanted)
        groups.append((now, relevance))
        present = present & ~now
        ids = torch.where(now, torch.full_like(ids, pad_token_id), ids)
        relevance = pad_reference_relevance(rerun(ids), seed, pad_embedding, token_mask)
    return ordered_above(groups, relevance, present)


def backward(trace: Trace, one_hot: Tensor, tensors: Sequence[Tensor]) -> tuple[Tensor, ...]:
    """What the backward pass of ``trace``'s rule set delivers at ``tensors``, from the target logit
    (``one_hot`` is shaped like the logits). The graph is kept: question answering runs two passes on it."""
    return torch.autograd.grad(trace.logits, list(tensors), grad_outputs=one_hot, retain_graph=True)


def rows_at(matrix: Tensor, position: Tensor) -> Tensor:
    """Row ``position[b]`` of each example's [T, T] matrix: [B, T, T] -> [B, T]."""
    batch, _, tokens = matrix.shape
    return matrix.gather(1, position[:, None, None].expand(batch, 1, tokens)).squeeze(1)


def rollout(matrices: Sequence[Tensor]) -> Tensor:
    """``J = M_{L-1} ... M_0`` with ``M_l = rownorm(matrices[l] + I)`` (Abnar & Zuidema 2020)."""
    eye = torch.eye(matrices[0].shape[-1], dtype=matrices[0].dtype, device=matrices[0].device)
    joint: Tensor | None = None
    for matrix in matrices:
        step = matrix + eye
        step = step / step.sum(dim=-1, keepdim=True)
        joint = step if joint is None else step @ joint
    assert joint is not None
    return joint


def rollout_row(matrices: Sequence[Tensor], position: Tensor, last_is_row: bool = False) -> Tensor:
    """Row ``position[b]`` of ``rollout(matrices)``, [B, T], computed from the top as
    ``e_p^T M_{L-1} M_{L-2} ... M_0``: a vector times each matrix (T^2 per layer, where the whole product
    costs T^3), so only the explained row of the last layer is read. ``last_is_row``: ``matrices[-1]`` holds
    that row alone ([B, 1, T], see ``encode``'s ``explained_rows_only``)."""
    top = matrices[-1]
    tokens = top.shape[-1]
    one_hot = (torch.arange(tokens, device=top.device)[None, :] == position[:, None]).to(top.dtype)
    row = (top[:, 0] if last_is_row else rows_at(top, position)) + one_hot
    row = row / row.sum(dim=-1, keepdim=True)
    eye = torch.eye(tokens, dtype=top.dtype, device=top.device)
    for matrix in reversed(matrices[:-1]):
        step = matrix + eye
        step = step / step.sum(dim=-1, keepdim=True)
        row = (row[:, None, :] @ step).squeeze(1)
    return row


def explained_row(trace: Trace, matrix: Tensor, position: Tensor) -> Tensor:
    """The explained position's row of a last-layer [B, T, T] matrix ([B, 1, T] when the trace ran that
    layer for the explained row alone)."""
    return matrix[:, 0] if trace.explained_rows_only else rows_at(matrix, position)


def stored_attention_relevance(trace: Trace, context_relevance: Sequence[Tensor], head_masked: bool) -> list[Tensor]:
    """``R_{A_l}`` of SPEC 2.2 step 4: the product rule's share of the *unmasked* context relevance for the
    attention probabilities. The Mask-LRP reference code stores it before the product rule's halving when a
    head mask is given and after it when not (TransAtt); this reproduces that factor of 2 on purpose."""
    factor = 1.0 if head_masked else 0.5
    layers = zip(trace.attention_inputs, trace.values, trace.contexts, context_relevance, strict=True)
    # the probabilities computed anew and A V taken from the forward, as the Chefer pass's context rule does
    # (rules.ChefersContext): the exporter then computes the two once
    return [
        product_relevance(inputs.anew(relevance), value, relevance, context, square_p=True)[0] * factor
        for inputs, value, context, relevance in layers
    ]


def chefer_rollout(
    gradients: Sequence[Tensor],
    attention_relevance: Sequence[Tensor],
    position: Tensor | None = None,
    last_is_row: bool = False,
) -> Tensor:
    """Steps 5-7 of SPEC 2.2: ``mean_h max(0, G * R_A)`` per layer, rolled out, the explained position's
    row ``p`` with ``J[p, p] = 0``; ``position`` None means token 0 (row 0 and ``J[0, 0] = 0``, the SPEC's
    encoder case). ``last_is_row``: the last layer's tensors hold the explained row alone."""
    maps = [(g * r).clamp(min=0).mean(dim=1) for g, r in zip(gradients, attention_relevance, strict=True)]
    if position is None:
        position = torch.zeros(maps[0].shape[0], dtype=torch.int64, device=maps[0].device)
    row = rollout_row(maps, position, last_is_row)
    not_self = (torch.arange(row.shape[-1], device=row.device)[None, :] != position[:, None]).to(row.dtype)
    return row * not_self


def attention_gradcam(trace: Trace, gradient: Tensor, token_mask: Tensor, position: Tensor) -> Tensor:
    """Last layer's attention weighted per head by the mean of its gradient over the real (query, key)
    pairs (under a causal mask: those with the key at or before the query), averaged over heads, positive
    part, the explained position's row. Where the trace holds the explained row alone, the gradient of
    every other row is 0 (the logits do not read them), so the sum over that row is the sum over all."""
    attention = trace.attentions[-1]
    pairs = token_mask[:, None, :, None] * token_mask[:, None, None, :]
    if trace.causal:
        pairs = torch.tril(pairs)
    count = pairs.sum(dim=(2, 3))
    if trace.explained_rows_only:
        pairs = token_mask[:, None, :1, None] * token_mask[:, None, None, :]
    weight = (gradient * pairs).sum(dim=(2, 3)) / count
    return explained_row(trace, (attention * weight[:, :, None, None]).mean(dim=1).clamp(min=0), position)


def attcat(trace: Trace, hidden_gradients: Sequence[Tensor], token_mask: Tensor) -> Tensor:
    """AttCAT (Qiang et al. 2022): per layer, gradient x hidden state summed over features, weighted by the
    layer's attention averaged over heads and real query rows; summed over layers. Where the trace ran the
    last layer for the explained row alone, that layer's gradient x hidden state is that token's (every other
    token's gradient is 0), weighted by the attention of every query (``last_full_attention``)."""
    queries = token_mask.sum(dim=1, keepdim=True)
    total = torch.zeros_like(token_mask)
    attentions = list(trace.attentions)
    if trace.explained_rows_only:
        assert trace.last_full_attention is not None
        attentions[-1] = trace.last_full_attention()
    last = len(attentions) - 1
    for index, (attention, hidden, gradient) in enumerate(
        zip(attentions, trace.hidden_states, hidden_gradients, strict=True)
    ):
        received = (attention.mean(dim=1) * token_mask[:, :, None]).sum(dim=1) / queries
        contribution = (gradient * hidden).sum(dim=-1)
        if trace.explained_rows_only and index == last:  # [B, 1]: the explained token, position 0
            first = torch.arange(token_mask.shape[1], device=token_mask.device) == 0
            contribution = contribution * first.to(contribution.dtype)
        total = total + contribution * received
    return total
