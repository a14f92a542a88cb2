"""Check an exported explain graph in ONNX Runtime against eager PyTorch, at shapes it was not traced at."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from onnxplain.errors import UserError
from onnxplain.export.canonical import CanonicalWeights

# (batch, tokens) checked after every export; the graph is traced at (3, 17).
CHECK_SHAPES: tuple[tuple[int, int], ...] = ((1, 5), (4, 23))
# Relative to the largest magnitude of each output; a wrong graph is off by order 1. Chefer's rules divide
# by sums that can cancel (attention scores near 0, residual branches of opposite sign), which amplifies
# float32 rounding differences between PyTorch's and ONNX Runtime's kernels to about 1e-3 (more on deeper
# models); the gradient-based methods agree to about 1e-6.
TOLERANCE = 1e-3
CHEFER_TOLERANCE = 3e-2
CHEFER_METHODS = frozenset({"mask-lrp", "transatt", "full-lrp", "partial-lrp"})


def tolerance(name: str) -> float:
    return CHEFER_TOLERANCE if name in CHEFER_METHODS else TOLERANCE


class ExportMismatch(UserError):
    """ONNX Runtime disagrees with eager PyTorch on an exported graph."""


def largest_relative_error(onnx_value: np.ndarray, eager_value: np.ndarray) -> float:
    scale = float(np.abs(eager_value).max()) if eager_value.size else 0.0
    error = float(np.abs(onnx_value - eager_value).max()) if eager_value.size else 0.0
    return error / max(scale, 1e-6)


def check_against_eager(
    weights: CanonicalWeights,
    methods: Sequence[str],
    has_token_types: bool,
    model_path: Path,
    shapes: Sequence[tuple[int, int]] = CHECK_SHAPES,
) -> dict[str, float]:
    """Run the graph and the eager code on random inputs of each shape; returns the worst relative error
    per output, and raises ``ExportMismatch`` naming the output and shape when one exceeds the tolerance."""
    import onnxruntime

    from onnxplain.export import graph

    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    names = ["logits", *methods]
    worst: dict[str, float] = dict.fromkeys(names, 0.0)
    eager = graph.explain_function(weights, methods, has_token_types)
    for seed, (batch, tokens) in enumerate(shapes):
        inputs = graph.example_inputs(weights, batch, tokens, has_token_types, seed=100 + seed)
        feeds = {n: t.numpy() for n, t in zip(graph.input_names(has_token_types), inputs, strict=True)}
        onnx_outputs = session.run(None, feeds)
        eager_outputs = [t.numpy() for t in eager(*inputs)]
        for name, onnx_value, eager_value in zip(names, onnx_outputs, eager_outputs, strict=True):
            if onnx_value.shape != eager_value.shape:
                raise ExportMismatch(
                    f"the exported graph's {name} has shape {onnx_value.shape} at input shape {(batch, tokens)}, "
                    f"eager PyTorch gives {eager_value.shape}; the export is broken, please report it"
                )
            error = largest_relative_error(onnx_value, eager_value)
            worst[name] = max(worst[name], error)
            if not np.isfinite(onnx_value).all() or error > tolerance(name):
                raise ExportMismatch(
                    f"the exported graph's {name} differs from eager PyTorch by {error:.2e} (relative; allowed "
                    f"{tolerance(name):.0e}) at batch {batch}, length {tokens}; the export is wrong, please report it"
                )
    return worst
