"""Shared helpers for tests that run the methods in eager PyTorch on random token ids."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from onnxplain.export.checkpoint import Checkpoint
from onnxplain.export.explain import explain
from onnxplain.export.registry import METHOD_NAMES, METHODS


def right_padded(sizes: Sequence[int] = (9, 5, 12), seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ids for texts of ``sizes`` tokens, right-padded with 0 to the longest, and their mask."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.zeros(len(sizes), max(sizes), dtype=torch.int64)
    attention_mask = torch.zeros_like(input_ids)
    for row, size in enumerate(sizes):
        input_ids[row, :size] = torch.randint(1000, 30000, (size,), generator=generator)
        attention_mask[row, :size] = 1
    return input_ids, attention_mask


def explain_eagerly(
    checkpoint: Checkpoint,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    head_mask: torch.Tensor | None = None,
    target: torch.Tensor | None = None,
    methods: Sequence[str] = METHOD_NAMES,
) -> dict[str, torch.Tensor]:
    """Every requested method's relevance (and the logits); all heads kept and the predicted class
    explained unless told otherwise."""
    weights = checkpoint.weights
    head_mask = torch.ones(weights.num_layers, weights.num_heads) if head_mask is None else head_mask
    target = torch.full((input_ids.shape[0],), -1) if target is None else target
    return explain(weights, input_ids, attention_mask, None, target, head_mask, methods)


def assert_only_masked_methods_changed(kept: dict[str, torch.Tensor], masked: dict[str, torch.Tensor]) -> None:
    """SPEC 2.2: a head mask never changes the prediction and reaches only the ``mask-*`` methods
    (``kept``: every head kept; ``masked``: some heads masked)."""
    for method in ("logits", *METHOD_NAMES):
        if method in METHODS and METHODS[method].reads_head_mask:
            assert not torch.allclose(kept[method], masked[method]), method
        else:
            assert torch.equal(kept[method], masked[method]), method
