"""The forward and backward passes the methods read, each run once, on first use.

An explanation runs one forward pass per rule set that some requested method needs (``Passes``), then, for
each explained logit (a ``Seed``), the backward passes those methods read (``SeedPasses``). Methods ask for
passes by name; nothing is run that no requested method asks for, and nothing is run twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from onnxplain.export.methods import backward, stored_attention_relevance, target_one_hot
from onnxplain.export.rulesets import AttnLRP, Chefer, ConservativePropagation, Gradient
from onnxplain.export.trace import Trace

# Every rule set a method may name, by (name, head masked).
RULE_SETS: dict[tuple[str, bool], Gradient] = {
    ("gradient", False): Gradient(),
    ("chefer", False): Chefer(),
    ("chefer", True): Chefer(head_masked=True),
    ("cp-lrp", False): ConservativePropagation(),
    ("cp-lrp", True): ConservativePropagation(head_masked=True),
    ("attnlrp", False): AttnLRP(),
    ("attnlrp", True): AttnLRP(head_masked=True),
}


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


class Passes:
    """One forward pass per rule set, run on first use. ``forward(rules, input_ids)`` runs the model;
    ``input_ids``, ``token_mask`` [B, T] float, ``pad_token_id``, ``pad_embedding`` and ``special_token_ids``
    describe the batch and the vocabulary for the methods that replace tokens."""

    def __init__(
        self,
        forward: Callable[[Gradient, Tensor], Trace],
        input_ids: Tensor,
        token_mask: Tensor,
        pad_token_id: int,
        pad_embedding: Tensor,
        special_token_ids: Sequence[int],
    ) -> None:
        self._forward = forward
        self._traces: dict[tuple[str, bool], Trace] = {}
        self.input_ids = input_ids
        self.token_mask = token_mask
        self.pad_token_id = pad_token_id
        self.pad_embedding = pad_embedding
        self.special_token_ids = tuple(special_token_ids)

    def trace(self, rule_set: str, head_masked: bool = False) -> Trace:
        """The forward pass through a rule set (``RULE_SETS``) on the batch."""
        key = (rule_set, head_masked)
        if key not in self._traces:
            self._traces[key] = self._forward(RULE_SETS[key], self.input_ids)
        return self._traces[key]

    def rerun(self, rule_set: str, input_ids: Tensor, head_masked: bool = False) -> Trace:
        """A new forward pass through a rule set on other token ids (not kept)."""
        return self._forward(RULE_SETS[(rule_set, head_masked)], input_ids)


@dataclass(frozen=True)
class PlainGradients:
    """The ordinary gradient of the explained logit at the summed embeddings, at every layer's attention
    probabilities and at every layer's output."""

    embeddings: Tensor
    attentions: tuple[Tensor, ...]
    hidden_states: tuple[Tensor, ...]


@dataclass(frozen=True)
class CheferRelevance:
    """Chefer's LRP pass from the explained logit: the relevance of the summed embeddings and ``R_{A_l}`` of
    every layer's attention (SPEC 2.2 step 4; see ``stored_attention_relevance``)."""

    trace: Trace
    embeddings: Tensor
    attentions: list[Tensor]


@contextmanager
def paced(trace: Trace, tensors: Sequence[Tensor]) -> Iterator[None]:
    """While a backward pass through ``trace`` is traced, each layer's attention probabilities computed anew
    (``rules.AttentionInputs.anew``) also wait for ``tensors[l]``, that layer's tensor of another pass.

    Mask-LRP and TransAtt multiply each layer's attention relevance (Chefer's pass) by its attention gradient
    (the gradient pass), both [B, H, T, T]. ONNX Runtime runs one node at a time, and an order chosen for memory
    (``runtime.schedule``) moved Chefer's pass, which has more nodes per layer, a layer or two ahead of the
    gradient's: each layer's relevance waited, 96 MiB at 8 x 512 tokens for MiniLM, until the gradient caught
    up. Waiting for the gradient keeps the two passes a layer apart at most. Exact: a dependency through zeros."""
    layers = [inputs.wait_for for inputs in trace.attention_inputs] if tensors else []
    for wait_for, tensor in zip(layers, tensors, strict=True):
        wait_for[:] = [tensor]
    try:
        yield
    finally:
        for wait_for in layers:
            wait_for.clear()


class SeedPasses:
    """The passes of one explained logit: the forward passes of ``passes`` and the backward passes from
    ``seed``, each run once however many methods read it."""

    def __init__(self, passes: Passes, seed: Seed) -> None:
        self.passes = passes
        self.seed = seed
        self._memo: dict[Any, Any] = {}

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()`` the first time ``key`` is asked for, the same value after."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    @property
    def plain(self) -> Trace:
        return self.passes.trace("gradient")

    def gradients(self) -> PlainGradients:
        def compute() -> PlainGradients:
            plain = self.plain
            layers = len(plain.attentions)
            grads = backward(plain, self.seed.gradient, [plain.embeddings, *plain.attentions, *plain.hidden_states])
            return PlainGradients(grads[0], tuple(grads[1 : 1 + layers]), tuple(grads[1 + layers :]))

        return self.memo("gradients", compute)

    def chefer(self, head_masked: bool, paced_by: Sequence[Tensor] = ()) -> CheferRelevance:
        """Chefer's LRP pass; ``paced_by`` (one tensor per layer, of another backward pass) makes each layer's
        attention rules wait for that layer's tensor (``paced``)."""

        def compute() -> CheferRelevance:
            trace = self.passes.trace("chefer", head_masked)
            with paced(trace, paced_by):
                embeddings, *contexts = backward(trace, self.seed.gradient, [trace.embeddings, *trace.contexts])
                attentions = stored_attention_relevance(trace, contexts, head_masked)
            return CheferRelevance(trace, embeddings, attentions)

        return self.memo(("chefer", head_masked, bool(paced_by)), compute)
