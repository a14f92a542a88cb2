"""``explain``: logits and every requested method's relevance for a batch, in eager PyTorch.

It runs only the passes the requested methods need (``passes.py``), so the same code is the eager reference
and, traced once with every method, the explain graph that is exported to ONNX.

Methods that read one row of an attention-like matrix (raw attention, rollout, TransAtt, Mask-LRP, partial
LRP, attention GradCAM) read the row of the *explained position*: token 0 ([CLS]) for encoders, the last
real token for decoders. SPEC 2.2 step 7 zeroes ``J[0, 0]``, the explained token's relevance to itself;
in general that is ``J[p, p]`` at the explained position ``p``, which is what is zeroed here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from onnxplain.export.architectures import CanonicalWeights
from onnxplain.export.canonical import forward
from onnxplain.export.passes import Passes, SeedPasses, explanation_seeds
from onnxplain.export.registry import METHOD_NAMES, METHODS
from onnxplain.export.rulesets import Gradient
from onnxplain.export.trace import Trace


def explain(
    weights: CanonicalWeights,
    input_ids: Tensor,
    attention_mask: Tensor,
    token_type_ids: Tensor | None,
    target: Tensor,
    head_mask: Tensor,
    methods: Sequence[str] = METHOD_NAMES,
    explained_rows_only: bool = True,
) -> dict[str, Tensor]:
    """Logits and the [B, T] relevance of each method in ``methods`` (padding set to 0). The forward passes
    run an encoder classifier's last layer for the explained token alone unless ``explained_rows_only`` is
    False (every value is the same either way; False is the plain reference the tests compare with)."""
    unknown = set(methods) - METHODS.keys()
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; known: {', '.join(METHOD_NAMES)}")

    def run(rules: Gradient, ids: Tensor) -> Trace:
        return forward(weights, rules, ids, attention_mask, token_type_ids, head_mask, explained_rows_only)

    token_mask = attention_mask.to(torch.float32)
    pad_embedding = weights.word_embeddings[weights.pad_token_id]
    passes = Passes(run, input_ids, token_mask, weights.pad_token_id, pad_embedding, weights.special_token_ids)
    relevance: dict[str, Tensor] = {}
    for seed in explanation_seeds(passes.trace("gradient"), target, token_mask):
        at_seed = SeedPasses(passes, seed)
        for name in dict.fromkeys(methods):
            value = METHODS[name].relevance(at_seed)
            relevance[name] = relevance[name] + value if name in relevance else value

    outputs = {"logits": passes.trace("gradient").logits.detach()}
    for name in methods:
        outputs[name] = relevance[name].detach() * token_mask
    return outputs
