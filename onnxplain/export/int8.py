"""An int8 copy of an explain graph: int8 weights, and integer matrix products in the forward and relevance
passes.

Every matrix product whose second operand is a weight matrix (directly, or its transpose or absolute value,
as the backward passes and Chefer's linear rule read it) becomes ``MatMulInteger``: the weight is stored once
as int8 with one symmetric scale per output channel of its first product (the forward's; the transpose and
absolute value of the int8 matrix are exact and ONNX Runtime folds them when it loads the graph). A product whose
output axis is that channel axis multiplies its result's columns by the scales; one that sums over it (the
backward's ``S W``) multiplies its activation's columns by them before quantising, which is the same product.
The other operand is quantised to uint8 when the graph runs,
**row by row** (per token: the row's range, with 0, in 127 steps; the zero point is taken out afterwards with
the weight's column sums, since ONNX Runtime's integer product takes one zero point only; an activation that is
never negative, such as the ``|x|`` of Chefer's rule, has it at 0 and needs neither), so that an example's
result never depends on the rest of its batch, which per-tensor dynamic quantisation (ONNX Runtime's
``quantize_dynamic``) would break. ``DequantizeLinear`` turns the integer product to float and applies the rows'
scales in one pass. Every other use of a weight (embedding look-ups, products left in fp32) reads the
int8 weights dequantised by a constant expression that ONNX Runtime folds at load (embedding tables get one
scale per row). Only standard ONNX operators are written.

Products named in ``keep_fp32`` (ONNX node names) stay fp32 products of the dequantised weights.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MIN_WEIGHT_SIDE = 16  # 2-D float tensors at least this long on both sides are weights; the rest stays fp32
LEVELS = 127.0  # int8 weights: symmetric, -127..127
# uint8 activations: each row's range (with 0) in 127 steps, so 0..127 (128 at most after rounding). On x86 CPUs
# without VNNI, ONNX Runtime's uint8 x int8 product adds pairs of products in int16 with saturation: 255 x 127 x 2
# overflows it, 128 x 127 x 2 does not. With 255 steps MatMulInteger was off by 17% of its largest exact value on
# an AVX2 machine (tests/test_export_precision.py checks the extremes); with 127 it is exact on every CPU, so one
# artifact gives the same result everywhere. 7-bit weights (ONNX Runtime's reduce_range) would do the same at the
# cost of a bit of every weight: with one scale per weight matrix (before the per-channel scales) they changed 15%
# of 60 held-out MiniLM predictions.
ACTIVATION_LEVELS = 127.0
NONNEGATIVE = ("Abs", "Relu", "Sigmoid", "Softmax", "Exp", "Sqrt")  # operators whose output is never negative
SHAPE_ONLY = ("Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Identity")


@dataclass
class QuantisedGraph:
    model: onnx.ModelProto
    integer_products: list[str] = field(default_factory=list)  # names of the products now in int8
    fp32_products: list[str] = field(default_factory=list)  # products with a weight operand kept in fp32


def weight_source(name: str, producers: dict[str, onnx.NodeProto], weights: dict[str, np.ndarray]):
    """``(weight name, [Transpose/Abs nodes from the weight to name])`` when ``name`` is a 2-D weight seen
    through transposes and absolute values, else None."""
    chain: list[onnx.NodeProto] = []
    while name not in weights:
        node = producers.get(name)
        if node is None or node.op_type not in ("Transpose", "Abs") or len(node.input) != 1:
            return None
        if node.op_type == "Transpose":
            perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), [1, 0])
            if perm != [1, 0]:
                return None
        chain.append(node)
        name = node.input[0]
    return name, list(reversed(chain))


def is_plain_gemm(node: onnx.NodeProto) -> bool:
    attributes = _attributes(node)
    return attributes.get("transA", 0) == 0 and attributes.get("alpha", 1.0) == attributes.get("beta", 1.0) == 1.0


def quantise_int8(model: onnx.ModelProto, keep_fp32: Collection[str] = ()) -> QuantisedGraph:
    """The int8 graph of ``model`` (which is not changed)."""
    source = onnx.ModelProto()
    source.CopyFrom(model)
    graph = source.graph
    inputs = {i.name for i in graph.input}
    weights = {
        t.name: numpy_helper.to_array(t)
        for t in graph.initializer
        if t.data_type == TensorProto.FLOAT
        and len(t.dims) == 2
        and min(t.dims) >= MIN_WEIGHT_SIDE
        and t.name not in inputs
    }
    producers = {out: node for node in graph.node for out in node.output}
    inferred = onnx.shape_inference.infer_shapes(source).graph
    ranks = {
        v.name: len(v.type.tensor_type.shape.dim)
        for v in [*inferred.value_info, *inferred.input]
        if v.type.tensor_type.HasField("shape")
    }
    result = QuantisedGraph(source)
    products: dict[str, tuple[str, list[onnx.NodeProto]]] = {}
    channel_axis: dict[str, int] = {}  # per quantised weight: the stored axis its scales run along
    for node in graph.node:
        if node.op_type not in ("MatMul", "Gemm") or (node.op_type == "Gemm" and not is_plain_gemm(node)):
            continue
        found = weight_source(node.input[1], producers, weights)
        if found is None:
            continue
        if node.name in keep_fp32 or ranks.get(node.input[0]) != 2:  # quantised row by row: 2-D operands only
            result.fp32_products.append(node.name)
            continue
        products[node.name] = found
        # the first product reading a weight (the forward's, in graph order) has its output channels scaled
        channel_axis.setdefault(found[0], 0 if _transposed(node, found[1]) else 1)

    added: list[TensorProto] = [
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "int8/last_axis"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "int8/first_axis"),
        numpy_helper.from_array(np.array(1.0 / ACTIVATION_LEVELS, dtype=np.float32), "int8/inverse_levels"),
        numpy_helper.from_array(np.array(np.finfo(np.float32).tiny, dtype=np.float32), "int8/tiny"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "int8/zero"),
    ]
    scales: dict[str, str] = {}
    dequantised: dict[str, list[onnx.NodeProto]] = {}
    for name, values in weights.items():
        # embedding tables and other look-ups: one scale per row; product weights: per output channel
        axis = channel_axis.get(name, 0)
        largest = np.abs(values).max(axis=1 - axis, keepdims=True)
        scale = (np.maximum(largest, np.finfo(np.float32).tiny) / LEVELS).astype(np.float32)
        integers = np.clip(np.round(values / scale), -LEVELS, LEVELS).astype(np.int8)
        added.append(numpy_helper.from_array(integers, f"{name}/int8"))
        added.append(numpy_helper.from_array(scale, f"{name}/scale"))
        if name in channel_axis:  # the scales as a vector, for the products' rows and columns
            added.append(numpy_helper.from_array(scale.reshape(-1), f"{name}/channel_scale"))
            scales[name] = f"{name}/channel_scale"
        # the weight's name now names its dequantised value, for every use that is not an integer product
        dequantised[name] = [
            helper.make_node("Cast", [f"{name}/int8"], [f"{name}/int8_as_float"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [f"{name}/int8_as_float", f"{name}/scale"], [name]),
        ]

    rewritten: list[onnx.NodeProto] = []
    for node in graph.node:
        if node.name not in products:
            rewritten.append(node)
            continue
        weight, chain = products[node.name]
        prefix = f"int8/{node.name}"
        operand = f"{weight}/int8"
        for index, step in enumerate(chain):
            rewritten.append(helper.make_node(step.op_type, [operand], [f"{prefix}/b{index}"], **_attributes(step)))
            operand = f"{prefix}/b{index}"
        if node.op_type == "Gemm" and _attributes(node).get("transB", 0):
            rewritten.append(helper.make_node("Transpose", [operand], [f"{prefix}/bT"], perm=[1, 0]))
            operand = f"{prefix}/bT"
        activation = node.input[0]
        # the channel scales along the product's output axis scale its result; along the summed axis, its input
        scales_output = _transposed(node, chain) == (channel_axis[weight] == 0)
        signed = not _nonnegative(activation, producers)
        if not scales_output:
            rewritten.append(helper.make_node("Mul", [activation, scales[weight]], [f"{prefix}/a_scaled"]))
            activation = f"{prefix}/a_scaled"
        rewritten += activation_quantisation(activation, prefix, signed)
        product = node.output[0] if node.op_type == "MatMul" or len(node.input) < 3 else f"{prefix}/product"
        columns = f"{prefix}/rows" if scales_output else product  # the last step before the columns' scales
        rows = f"{prefix}/rows_scaled" if signed else columns
        rewritten += [
            helper.make_node("MatMulInteger", [f"{prefix}/a_q", operand], [f"{prefix}/int32"]),
            # to float with each row's scale, in one pass
            helper.make_node("DequantizeLinear", [f"{prefix}/int32", f"{prefix}/row_scale"], [rows], axis=0),
        ]
        if signed:
            rewritten += [
                # the rows' zero points, taken out afterwards: sum_k s (a_k - z) b_kj = s (a b)_j - s z sum_k b_kj,
                # a rank-1 product subtracted from the result (Gemm's C), one pass over it
                helper.make_node("Cast", [operand], [f"{prefix}/b_float"], to=TensorProto.FLOAT),
                helper.make_node(
                    "ReduceSum", [f"{prefix}/b_float", "int8/first_axis"], [f"{prefix}/b_sums"], keepdims=1
                ),
                helper.make_node("Gemm", [f"{prefix}/row_offset", f"{prefix}/b_sums", rows], [columns], alpha=-1.0),
            ]
        if scales_output:
            rewritten.append(helper.make_node("Mul", [columns, scales[weight]], [product]))
        if product != node.output[0]:
            rewritten.append(helper.make_node("Add", [product, node.input[2]], [node.output[0]]))
        result.integer_products.append(node.name)

    used = {name for node in rewritten for name in node.input} | {o.name for o in graph.output}
    constants = [step for name, steps in dequantised.items() if name in used for step in steps]
    del graph.node[:]
    graph.node.extend(constants + rewritten)
    remaining = [t for t in graph.initializer if t.name not in weights]
    del graph.initializer[:]
    graph.initializer.extend(remaining + added)
    needed = {name for node in graph.node for name in node.input}
    survivors = [t for t in graph.initializer if t.name in needed or t.name in inputs]
    del graph.initializer[:]
    graph.initializer.extend(survivors)
    _ensure_opset(source, 13)
    return result


def activation_quantisation(activation: str, prefix: str, signed: bool) -> list[onnx.NodeProto]:
    """Nodes that quantise the 2-D ``activation`` to uint8 row by row: each row's range, widened to include 0,
    in ``ACTIVATION_LEVELS`` steps (``QuantizeLinear`` along axis 0). Outputs ``{prefix}/a_q`` and
    ``{prefix}/row_scale`` [rows]; for a ``signed`` activation also ``{prefix}/row_offset`` [rows, 1], each row's
    zero point times its scale (an activation that is never negative has its zero point at 0)."""

    def node(op: str, inputs: list[str], output: str, **attributes: Any) -> onnx.NodeProto:
        return helper.make_node(op, inputs, [f"{prefix}/{output}"], **attributes)

    if not signed:  # the same scale as below with the range's low end at 0
        return [
            node("ReduceMax", [activation, "int8/last_axis"], "row_max", keepdims=0),
            node("Max", [f"{prefix}/row_max", "int8/tiny"], "range_safe"),
            node("Mul", [f"{prefix}/range_safe", "int8/inverse_levels"], "row_scale"),
            node("QuantizeLinear", [activation, f"{prefix}/row_scale"], "a_q", axis=0),
        ]
    return [
        node("ReduceMin", [activation, "int8/last_axis"], "row_min", keepdims=0),
        node("ReduceMax", [activation, "int8/last_axis"], "row_max", keepdims=0),
        node("Min", [f"{prefix}/row_min", "int8/zero"], "low"),
        node("Max", [f"{prefix}/row_max", "int8/zero"], "high"),
        node("Sub", [f"{prefix}/high", f"{prefix}/low"], "range"),
        node("Max", [f"{prefix}/range", "int8/tiny"], "range_safe"),
        node("Mul", [f"{prefix}/range_safe", "int8/inverse_levels"], "row_scale"),
        node("Neg", [f"{prefix}/low"], "minus_low"),
        # round(-low / scale), 0..127: QuantizeLinear rounds half to even, as Round does
        node("QuantizeLinear", [f"{prefix}/minus_low", f"{prefix}/row_scale"], "row_zero_point", axis=0),
        node("QuantizeLinear", [activation, f"{prefix}/row_scale", f"{prefix}/row_zero_point"], "a_q", axis=0),
        # (not DequantizeLinear: ONNX Runtime takes a QuantizeLinear-DequantizeLinear pair out, unrounded)
        node("Cast", [f"{prefix}/row_zero_point"], "zero_point", to=TensorProto.FLOAT),
        node("Mul", [f"{prefix}/zero_point", f"{prefix}/row_scale"], "offset"),
        node("Unsqueeze", [f"{prefix}/offset", "int8/last_axis"], "row_offset"),
    ]


def _nonnegative(name: str, producers: dict[str, onnx.NodeProto]) -> bool:
    """Whether the tensor ``name`` is never negative by the operator that computes it (seen through reshapes
    and transposes: the 2-D operand of a batched product is a reshape)."""
    node = producers.get(name)
    while node is not None and node.op_type in SHAPE_ONLY:
        node = producers.get(node.input[0])
    return node is not None and node.op_type in NONNEGATIVE


def _transposed(node: onnx.NodeProto, chain: list[onnx.NodeProto]) -> bool:
    """Whether the product ``node`` reads its weight transposed (the weight's first axis is its output axis)."""
    flips = sum(step.op_type == "Transpose" for step in chain)
    if node.op_type == "Gemm" and _attributes(node).get("transB", 0):
        flips += 1
    return flips % 2 == 1


def _attributes(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _ensure_opset(model: onnx.ModelProto, minimum: int) -> None:
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx") and opset.version < minimum:
            opset.version = minimum
