"""Every explanation method of SPEC section 2, computed from forward passes through rule sets.

``explain`` runs only the passes the requested methods need, so the same code is the eager-PyTorch
reference and, traced once with every method, the explain graph that is exported to ONNX.

Methods that read one row of an attention-like matrix (raw attention, rollout, TransAtt, Mask-LRP, partial
LRP, attention GradCAM) read the row of the *explained position*: token 0 ([CLS]) for encoders, the last
real token for decoders. SPEC 2.2 step 7 zeroes ``J[0, 0]``, the explained token's relevance to itself;
in general that is ``J[p, p]`` at the explained position ``p``, which is what is zeroed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from onnxplain.export.canonical import CanonicalWeights, forward
from onnxplain.export.encoder import Trace
from onnxplain.export.rules import product_relevance
from onnxplain.export.rulesets import AttnLRP, Chefer, ConservativePropagation, Gradient
from onnxplain.runtime.artifact import METHODS

# Methods that read the ordinary gradient of the target logit.
NEEDS_GRADIENT = {"mask-lrp", "transatt", "attention-gradcam", "grad-input", "attcat"}
# Methods that are gradient x input at the embeddings after one pass through a modified rule set.
GRADIENT_TIMES_INPUT = {
    "cp-lrp": ConservativePropagation(),
    "mask-cp-lrp": ConservativePropagation(head_masked=True),
    "attnlrp": AttnLRP(),
    "mask-attnlrp": AttnLRP(head_masked=True),
}
# Methods that are a rule set's gradient of the target's log-probability times the difference between each
# token's embedding and the pad token's, the substitution the deletion evaluation makes (issue 9).
PAD_REFERENCE = {"cp-lrp-pad": ConservativePropagation()}


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


def stored_attention_relevance(trace: Trace, context_relevance: Sequence[Tensor], head_masked: bool) -> list[Tensor]:
    """``R_{A_l}`` of SPEC 2.2 step 4: the product rule's share of the *unmasked* context relevance for the
    attention probabilities. The Mask-LRP reference code stores it before the product rule's halving when a
    head mask is given and after it when not (TransAtt); this reproduces that factor of 2 on purpose."""
    factor = 1.0 if head_masked else 0.5
    return [
        product_relevance(attention, value, relevance)[0] * factor
        for attention, value, relevance in zip(trace.attentions, trace.values, context_relevance, strict=True)
    ]


def chefer_rollout(
    gradients: Sequence[Tensor], attention_relevance: Sequence[Tensor], position: Tensor | None = None
) -> Tensor:
    """Steps 5-7 of SPEC 2.2: ``mean_h max(0, G * R_A)`` per layer, rolled out, the explained position's
    row ``p`` with ``J[p, p] = 0``; ``position`` None means token 0 (row 0 and ``J[0, 0] = 0``, the SPEC's
    encoder case)."""
    maps = [(g * r).clamp(min=0).mean(dim=1) for g, r in zip(gradients, attention_relevance, strict=True)]
    if position is None:
        position = torch.zeros(maps[0].shape[0], dtype=torch.int64, device=maps[0].device)
    row = rows_at(rollout(maps), position)
    not_self = (torch.arange(row.shape[-1], device=row.device)[None, :] != position[:, None]).to(row.dtype)
    return row * not_self


def attention_gradcam(
    attention: Tensor, gradient: Tensor, token_mask: Tensor, position: Tensor, causal: bool
) -> Tensor:
    """Last layer's attention weighted per head by the mean of its gradient over the real (query, key)
    pairs (under a causal mask: those with the key at or before the query), averaged over heads, positive
    part, the explained position's row."""
    pairs = token_mask[:, None, :, None] * token_mask[:, None, None, :]
    if causal:
        pairs = torch.tril(pairs)
    weight = (gradient * pairs).sum(dim=(2, 3)) / pairs.sum(dim=(2, 3))
    return rows_at((attention * weight[:, :, None, None]).mean(dim=1).clamp(min=0), position)


def attcat(trace: Trace, hidden_gradients: Sequence[Tensor], token_mask: Tensor) -> Tensor:
    """AttCAT (Qiang et al. 2022): per layer, gradient x hidden state summed over features, weighted by the
    layer's attention averaged over heads and real query rows; summed over layers."""
    queries = token_mask.sum(dim=1, keepdim=True)
    total = torch.zeros_like(token_mask)
    for attention, hidden, gradient in zip(trace.attentions, trace.hidden_states, hidden_gradients, strict=True):
        received = (attention.mean(dim=1) * token_mask[:, :, None]).sum(dim=1) / queries
        total = total + (gradient * hidden).sum(dim=-1) * received
    return total


@dataclass(frozen=True)
class Seed:
    """Where the backward passes start: ``gradient`` is fed to the logits (the one-hot of the explained
    logit, shaped like them) and ``position`` [B] is the row the attention-based methods read."""

    gradient: Tensor
    position: Tensor


def explanation_seeds(plain: Trace, target: Tensor, token_mask: Tensor) -> list[Seed]:
    """One seed per explained logit. Classifiers and language models ([B, labels] logits): the target
    class at the explained position. Extractive question answering ([B, T, 2] start and end logits,
    ``target`` [B, 2] answer start and end, -1 = predicted): the start logit at the answer start and the
    end logit at the answer end, explained one after the other and summed, as the Mask-LRP evaluation code
    does; each rolls out from its own row."""
    logits = plain.logits.detach()
    if logits.dim() == 2:
        return [Seed(target_one_hot(logits, target), plain.explained_position)]
    seeds = []
    for side in (0, 1):
        # padding never wins a predicted answer position
        side_logits = torch.where(token_mask > 0, logits[..., side], torch.finfo(logits.dtype).min)
        one_hot = target_one_hot(side_logits, target[:, side])
        zeros = torch.zeros_like(one_hot)
        gradient = torch.stack((one_hot, zeros) if side == 0 else (zeros, one_hot), dim=-1)
        seeds.append(Seed(gradient, one_hot.argmax(dim=-1)))
    return seeds


def seed_relevance(
    plain: Trace,
    chefer: dict[bool, Trace],
    modified: dict[str, Trace],
    seed: Seed,
    token_mask: Tensor,
    wanted: set[str],
    pad_reference: dict[str, Trace] | None = None,
    pad_embedding: Tensor | None = None,
) -> dict[str, Tensor]:
    """The [B, T] relevance of each wanted method for one seed, from the forward passes already run:
    ``plain`` (ordinary gradient), ``chefer`` (unmasked/masked Chefer LRP) and ``modified`` (gradient x
    input rule sets, by method), ``pad_reference`` (``PAD_REFERENCE`` rule sets, by method, with the pad
    token's embedding ``pad_embedding``)."""
    position = seed.position
    relevance: dict[str, Tensor] = {}
    if wanted & {"raw-attention", "rollout"}:
        relevance["raw-attention"] = rows_at(plain.attentions[-1].mean(dim=1), position)
        relevance["rollout"] = rows_at(rollout([a.mean(dim=1) for a in plain.attentions]), position)

    if wanted & NEEDS_GRADIENT:
        layers = len(plain.attentions)
        grads = backward(plain, seed.gradient, [plain.embeddings, *plain.attentions, *plain.hidden_states])
        embedding_gradient, attention_gradients, hidden_gradients = (
            grads[0],
            grads[1 : 1 + layers],
            grads[1 + layers :],
        )
        # On the word embeddings: on the summed embedding it is identically 0, since the embedding
        # LayerNorm is scale-invariant per token (x . dLN(x)/dx = 0).
        relevance["grad-input"] = (embedding_gradient * plain.word_embeddings).sum(dim=-1)
        relevance["attention-gradcam"] = attention_gradcam(
            plain.attentions[-1], attention_gradients[-1], token_mask, position, plain.causal
        )
        relevance["attcat"] = attcat(plain, hidden_gradients, token_mask)

    for head_masked, trace in chefer.items():
        embedding_relevance, *context_relevance = backward(trace, seed.gradient, [trace.embeddings, *trace.contexts])
        stored = stored_attention_relevance(trace, context_relevance, head_masked)
        rollout_method = "mask-lrp" if head_masked else "transatt"
        if rollout_method in wanted:
            relevance[rollout_method] = chefer_rollout(attention_gradients, stored, position)
        if not head_masked:
            relevance["full-lrp"] = embedding_relevance.sum(dim=-1)
            relevance["partial-lrp"] = rows_at(stored[-1].clamp(min=0).mean(dim=1), position)

    for name, trace in modified.items():
        (gradient,) = backward(trace, seed.gradient, [trace.embeddings])
        relevance[name] = (gradient * trace.embeddings).sum(dim=-1)

    for name, trace in (pad_reference or {}).items():
        assert pad_embedding is not None
        relevance[name] = pad_reference_relevance(trace, seed.gradient, pad_embedding, token_mask)
    return relevance


def explain(
    weights: CanonicalWeights,
    input_ids: Tensor,
    attention_mask: Tensor,
    token_type_ids: Tensor | None,
    target: Tensor,
    head_mask: Tensor,
    methods: Sequence[str] = METHODS,
) -> dict[str, Tensor]:
    """Logits and the [B, T] relevance of each method in ``methods`` (padding set to 0)."""
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; known: {', '.join(METHODS)}")

    def run(rules: Gradient) -> Trace:
        return forward(weights, rules, input_ids, attention_mask, token_type_ids, head_mask)

    token_mask = attention_mask.to(torch.float32)
    plain = run(Gradient())
    wanted = set(methods)
    chefer = {
        head_masked: run(Chefer(head_masked=head_masked))
        for head_masked, names in ((False, {"transatt", "full-lrp", "partial-lrp"}), (True, {"mask-lrp"}))
        if wanted & names
    }
    modified = {name: run(GRADIENT_TIMES_INPUT[name]) for name in sorted(wanted & GRADIENT_TIMES_INPUT.keys())}
    pad_reference = {name: run(PAD_REFERENCE[name]) for name in sorted(wanted & PAD_REFERENCE.keys())}
    pad_embedding = weights.word_embeddings[weights.pad_token_id]
    relevance: dict[str, Tensor] = {}
    for seed in explanation_seeds(plain, target, token_mask):
        part = seed_relevance(plain, chefer, modified, seed, token_mask, wanted, pad_reference, pad_embedding)
        for name, value in part.items():
            relevance[name] = relevance[name] + value if name in relevance else value

    outputs = {"logits": plain.logits.detach()}
    for name in methods:
        outputs[name] = relevance[name].detach() * token_mask
    return outputs
