"""A half-precision copy of an explain graph, for GPUs: every float tensor and operation in fp16, except
LayerNorm (kept fp32, as ONNX Runtime's own fp16 conversion does for numerically sensitive operations) and the
nodes named in ``keep_fp32`` (a method's relevance path, when its fp16 fidelity is poor). Inputs and outputs
keep their float32 types, so a consumer feeds and reads the same tensors as for fp32."""

from __future__ import annotations

from collections.abc import Collection

import onnx

KEPT_OPERATORS = ("LayerNormalization",)


def convert_fp16(model: onnx.ModelProto, keep_fp32: Collection[str] = ()) -> onnx.ModelProto:
    """The fp16 graph of ``model`` (which is not changed), through ONNX Runtime's converter."""
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    source = onnx.ModelProto()
    source.CopyFrom(model)
    return convert_float_to_float16(
        source,
        keep_io_types=True,
        op_block_list=[*DEFAULT_OP_BLOCK_LIST, *KEPT_OPERATORS],
        node_block_list=list(keep_fp32),
    )
