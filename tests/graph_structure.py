"""Structural checks of an exported graph that its numbers cannot show."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import onnx
import onnxruntime as ort

from onnxplain.runtime.pruning import pruned_model

# operators that pass a weight on unchanged in value (a view, a cast, a dequantised copy)
_PASS_THROUGH = {"Transpose", "Cast", "Identity", "Reshape", "Unsqueeze", "Squeeze", "DequantizeLinear"}


def weights_expanded_to_a_batch(model: onnx.ModelProto) -> list[str]:
    """The Expand nodes that broadcast a weight matrix (an initializer or constant of rank 2 or more, possibly
    transposed or cast on the way): a product with such an expansion is a batched matrix product with the
    weight copied once per example, where one 2-D product (which ONNX Runtime fuses and int8 quantises)
    does the same work. Scalars broadcast to a shape (``torch.full``) are not counted."""
    constants = {tensor.name: tensor for tensor in model.graph.initializer}
    producer = {}
    for node in model.graph.node:
        if node.op_type == "Constant":
            constants.update({name: node.attribute[0].t for name in node.output if node.attribute[0].HasField("t")})
        producer.update(dict.fromkeys(node.output, node))

    def weight_behind(name: str) -> onnx.TensorProto | None:
        while name not in constants:
            node = producer.get(name)
            if node is None or node.op_type not in _PASS_THROUGH:
                return None
            name = node.input[0]
        return constants[name]

    found = []
    for node in model.graph.node:
        if node.op_type == "Expand":
            weight = weight_behind(node.input[0])
            if weight is not None and len(weight.dims) >= 2:
                found.append(f"{node.name} expands {weight.name} {list(weight.dims)}")
    return found


def optimised_operators(model: onnx.ModelProto, outputs: list[str], directory: Path) -> Counter[str]:
    """Operator counts of the graph that computes ``outputs`` after ONNX Runtime's extended optimisations
    (its fusions), as a session of the runtime loads it."""
    source = directory / "pruned.onnx"
    onnx.save(pruned_model(model, outputs), source)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(directory / "optimised.onnx")
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    return Counter(node.op_type for node in onnx.load(options.optimized_model_filepath).graph.node)
