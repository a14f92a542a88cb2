"""Structural checks of an exported graph that its numbers cannot show."""

from __future__ import annotations

import onnx

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
