"""Check an exported explain graph in ONNX Runtime against eager PyTorch, at shapes it was not traced at."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from onnxplain.errors import UserError
from onnxplain.export.canonical import CanonicalWeights

# (batch, tokens) checked after every export; the graph is traced at (3, 17).
CHECK_SHAPES: tuple[tuple[int, int], ...] = ((1, 5), (4, 23))
# The export check's floor: ONNX Runtime's kernels (fusions, other summation orders) land further from the
# float64 answer than eager float32 does, e.g. 1.9e-3 of Mask-LRP's scale on MiniLM where eager is 6e-5.
CHECK_TOLERANCE = 1e-2
# ONNX Runtime may be this many times further from the float64 answer than eager float32 PyTorch is.
ROUNDING_FACTOR = 10.0


def in_double(value: Any) -> Any:
    """A float64 copy of canonical weights (dataclasses of tensors): the exact answer that float32 rounding
    errors are measured against."""
    if isinstance(value, torch.Tensor):
        return value.double() if value.is_floating_point() else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: in_double(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    if isinstance(value, tuple | list):
        return type(value)(in_double(v) for v in value)
    return value


class ExportMismatch(UserError):
    """ONNX Runtime disagrees with eager PyTorch on an exported graph."""


def largest_relative_error(onnx_value: np.ndarray, eager_value: np.ndarray) -> float:
    scale = float(np.abs(eager_value).max()) if eager_value.size else 0.0
    error = float(np.abs(onnx_value - eager_value).max()) if eager_value.size else 0.0
    return error / max(scale, 1e-6)


@dataclasses.dataclass(frozen=True)
class ToleranceClass:
    """How far an output of a graph of one precision may be from the float64 answer, relative to its largest
    magnitude: ``floor`` plus ``factor`` times eager float32 PyTorch's own error; ``numeric`` False checks
    shapes and finiteness only (int8, whose fidelity is measured against fp32 on held-out texts instead)."""

    floor: float
    factor: float
    numeric: bool = True


TOLERANCE_CLASSES = {
    "fp32": ToleranceClass(CHECK_TOLERANCE, ROUNDING_FACTOR),
    # half precision keeps 11 significant bits where float32 keeps 24 (8192 times coarser)
    "fp16": ToleranceClass(5e-2, 1000.0),
    "int8": ToleranceClass(float("inf"), 0.0, numeric=False),
}


@dataclasses.dataclass(frozen=True)
class OutputCheck:
    """One output's worst relative error over the checked shapes, what was allowed there, and where."""

    error: float
    allowed: float
    finite: bool
    shape: tuple[int, int]

    @property
    def passed(self) -> bool:
        return self.finite and self.error <= self.allowed


def errors_against_eager(
    weights: CanonicalWeights,
    methods: Sequence[str],
    has_token_types: bool,
    model_path: Path,
    shapes: Sequence[tuple[int, int]] = CHECK_SHAPES,
    precision: str = "fp32",
) -> dict[str, OutputCheck]:
    """Run the graph and the eager code on random inputs of each shape; per output, its worst relative error
    against eager PyTorch in float64 and what the precision's tolerance class allowed (the worst shape is
    the one reported). A wrong output shape raises ``ExportMismatch`` at once.

    Both are compared with the eager code in float64. An output passes when ONNX Runtime's error is within the
    class's floor plus its factor times eager float32's own error: Chefer's rules divide by sums that can
    cancel, so how far rounding moves an output depends on the model and the input, and eager float32
    measures it. A wrong graph is off by order 1."""
    import onnxruntime

    from onnxplain.export import graph

    tolerance_class = TOLERANCE_CLASSES[precision]
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    names = ["logits", *methods]
    checks: dict[str, OutputCheck] = {}
    eager = graph.explain_function(weights, methods, has_token_types)
    exact = graph.explain_function(in_double(weights), methods, has_token_types)
    for seed, (batch, tokens) in enumerate(shapes):
        inputs = graph.example_inputs(weights, batch, tokens, has_token_types, seed=100 + seed)
        feeds = {n: t.numpy() for n, t in zip(graph.input_names(has_token_types), inputs, strict=True)}
        onnx_outputs = session.run(None, feeds)
        eager_outputs = [t.numpy() for t in eager(*inputs)]
        exact_outputs = [t.numpy() for t in exact(*inputs)]
        for name, onnx_value, eager_value, exact_value in zip(
            names, onnx_outputs, eager_outputs, exact_outputs, strict=True
        ):
            if onnx_value.shape != eager_value.shape:
                raise ExportMismatch(
                    f"the exported graph's {name} has shape {onnx_value.shape} at input shape {(batch, tokens)}, "
                    f"eager PyTorch gives {eager_value.shape}; the export is broken, please report it"
                )
            finite = bool(np.isfinite(onnx_value).all())
            if tolerance_class.numeric:
                error = largest_relative_error(onnx_value, exact_value)
                own = largest_relative_error(eager_value, exact_value)
                allowed = tolerance_class.floor + tolerance_class.factor * own
            else:
                error, allowed = 0.0, float("inf")
            check = OutputCheck(error, allowed, finite, (batch, tokens))
            earlier = checks.get(name)
            if (
                earlier is None
                or (earlier.passed and not check.passed)
                or (earlier.passed == check.passed and check.error > earlier.error)
            ):
                checks[name] = check
    return checks


def check_against_eager(
    weights: CanonicalWeights,
    methods: Sequence[str],
    has_token_types: bool,
    model_path: Path,
    shapes: Sequence[tuple[int, int]] = CHECK_SHAPES,
    precision: str = "fp32",
) -> dict[str, float]:
    """``errors_against_eager``, raising ``ExportMismatch`` naming the first output that fails; returns the
    worst relative error per output."""
    checks = errors_against_eager(weights, methods, has_token_types, model_path, shapes, precision)
    for name, check in checks.items():
        if not check.passed:
            batch, tokens = check.shape
            raise ExportMismatch(
                f"the exported graph's {name} differs from eager PyTorch by {check.error:.2e} (relative, allowed "
                f"{check.allowed:.1e}) at batch {batch}, length {tokens}; the export is wrong, please report it"
            )
    return {name: check.error for name, check in checks.items()}
