"""The yardsticks, in eager PyTorch: the export code's own ``explain`` (the same methods, unexported) and
Captum's LayerIntegratedGradients on the Hugging Face model, the attribution most users run today."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from onnxplain.bench.inputs import Batch
from onnxplain.errors import UserError
from onnxplain.export.canonical import forward
from onnxplain.export.checkpoint import Checkpoint, load_checkpoint
from onnxplain.export.explain import explain
from onnxplain.export.rulesets import Gradient
from onnxplain.runtime.artifact import Manifest

if TYPE_CHECKING:
    from transformers import PreTrainedModel

INTEGRATED_GRADIENTS_STEPS = 50
# Sequences Captum pushes through the model at once (batch x steps is split into chunks of this many tokens).
INTEGRATED_GRADIENTS_TOKENS_PER_CHUNK = 65536


def source_checkpoint(manifest: Manifest) -> Checkpoint:
    """The Hugging Face directory the artifact was exported from, which eager timing needs."""
    model_dir = manifest.source.get("model_dir")
    if not model_dir or not Path(model_dir).is_dir():
        raise UserError(
            f"the artifact's source model directory {model_dir!r} is not here, and eager PyTorch and Integrated "
            "Gradients need it; run on the machine that exported it, or pass --no-eager --no-captum"
        )
    return load_checkpoint(model_dir)


class EagerInputs:
    """One batch as the export code's ``explain`` takes it."""

    def __init__(self, checkpoint: Checkpoint, manifest: Manifest, batch: Batch) -> None:
        self.input_ids = torch.from_numpy(batch.input_ids)
        self.attention_mask = torch.from_numpy(batch.attention_mask)
        has_types = getattr(checkpoint.weights, "token_type_embeddings", None) is not None
        self.token_type_ids = torch.zeros_like(self.input_ids) if has_types else None
        self.target = torch.full((batch.shape[0],), -1, dtype=torch.int64)
        self.head_mask = torch.tensor(np.asarray(manifest.default_head_mask, dtype=np.float32))


def eager_candidates(
    checkpoint: Checkpoint, manifest: Manifest, methods: Sequence[str], batch: Batch
) -> dict[str, Callable[[], object]]:
    """The forward pass (no gradient) and each method, through the export code in eager PyTorch."""
    inputs = EagerInputs(checkpoint, manifest, batch)
    weights = checkpoint.weights

    def run_forward() -> object:
        with torch.no_grad():
            return forward(
                weights, Gradient(), inputs.input_ids, inputs.attention_mask, inputs.token_type_ids, inputs.head_mask
            ).logits

    def run_method(method: str) -> Callable[[], object]:
        def run() -> object:
            with torch.enable_grad():
                return explain(
                    weights,
                    inputs.input_ids,
                    inputs.attention_mask,
                    inputs.token_type_ids,
                    inputs.target,
                    inputs.head_mask,
                    (method,),
                )

        return run

    candidates: dict[str, Callable[[], object]] = {"forward": run_forward}
    candidates.update({method: run_method(method) for method in methods})
    return candidates


def load_classifier(model_dir: Path) -> PreTrainedModel:
    """The Hugging Face classifier as users load it (default attention implementation), in eval mode."""
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(model_dir).eval()


def integrated_gradients_candidate(model: PreTrainedModel, batch: Batch, pad_token_id: int) -> Callable[[], object]:
    """Captum's LayerIntegratedGradients (50 steps) on the classifier's word embeddings, explaining the
    predicted class from a baseline that replaces every token but the first and last (special) by padding."""
    from captum.attr import LayerIntegratedGradients

    input_ids = torch.from_numpy(batch.input_ids)
    attention_mask = torch.from_numpy(batch.attention_mask)

    def logits(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return model(input_ids=ids, attention_mask=mask).logits

    with torch.no_grad():
        target = logits(input_ids, attention_mask).argmax(dim=-1)
    baseline = input_ids.clone()
    baseline[:, 1:-1] = pad_token_id
    rows, length = batch.shape
    chunk = max(1, min(rows * INTEGRATED_GRADIENTS_STEPS, INTEGRATED_GRADIENTS_TOKENS_PER_CHUNK // length))
    attribution = LayerIntegratedGradients(logits, model.get_input_embeddings())

    def run() -> object:
        return attribution.attribute(
            input_ids,
            baselines=baseline,
            target=target,
            additional_forward_args=(attention_mask,),
            n_steps=INTEGRATED_GRADIENTS_STEPS,
            internal_batch_size=chunk,
        ).sum(dim=-1)

    return run
