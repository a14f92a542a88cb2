"""Trace the explain function (forward passes and their rule-set backward passes) into one FX graph of
plain ATen ops with ``make_fx``, then write it as ONNX with dynamic batch and sequence axes.

``torch.onnx.export`` cannot export a module that calls ``autograd.grad``; tracing first with make_fx
turns every backward pass into ordinary operations, which export cleanly (SPEC section 6).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import Tensor

from onnxplain.export.architectures.decoders import DecoderWeights
from onnxplain.export.canonical import CanonicalWeights
from onnxplain.export.decompositions import decomposition_table, skip_idle_decompositions
from onnxplain.export.explain import explain
from onnxplain.export.graph_passes import share_forward_passes
from onnxplain.runtime import artifact


def input_names(has_token_types: bool) -> list[str]:
    names = [artifact.INPUT_IDS, artifact.ATTENTION_MASK]
    if has_token_types:
        names.append(artifact.TOKEN_TYPE_IDS)
    return names + [artifact.TARGET, artifact.HEAD_MASK]


def explain_function(weights: CanonicalWeights, methods: Sequence[str], has_token_types: bool):
    """A function of the graph inputs (in ``input_names`` order) returning (logits, *relevances)."""

    def run(*inputs: Tensor) -> tuple[Tensor, ...]:
        if has_token_types:
            input_ids, attention_mask, token_type_ids, target, head_mask = inputs
        else:
            (input_ids, attention_mask, target, head_mask), token_type_ids = inputs, None
        with torch.enable_grad():
            outputs = explain(weights, input_ids, attention_mask, token_type_ids, target, head_mask, methods)
        return tuple(outputs[name] for name in ("logits", *methods))

    return run


def example_inputs(weights: CanonicalWeights, batch: int, tokens: int, has_token_types: bool, seed: int = 0):
    """Random inputs of a given shape, the last example padded, for tracing and for checking."""
    generator = torch.Generator().manual_seed(seed)
    vocabulary = weights.word_embeddings.shape[0]
    input_ids = torch.randint(1000 % vocabulary, vocabulary, (batch, tokens), generator=generator)
    attention_mask = torch.ones(batch, tokens, dtype=torch.int64)
    if batch > 1 and tokens > 2:
        attention_mask[-1, tokens - tokens // 3 :] = 0
        input_ids[-1, tokens - tokens // 3 :] = weights.pad_token_id
    if batch > 2 and tokens > 2 and isinstance(weights, DecoderWeights):  # decoders also see left padding
        attention_mask[0, : tokens // 3] = 0
        input_ids[0, : tokens // 3] = weights.pad_token_id
    labels = weights.num_labels
    if getattr(weights, "span_head", None) is not None:  # question answering: answer start and end
        target = torch.randint(-1, max(tokens - tokens // 3, 1), (batch, 2), generator=generator)
    else:
        target = torch.randint(-1, labels, (batch,), generator=generator)
    head_mask = (torch.rand(weights.num_layers, weights.num_heads, generator=generator) > 0.4).float()
    # a calibrated mask drops every head of most layers: a layer with none kept, and one with all kept
    head_mask[seed % weights.num_layers] = 0.0
    if weights.num_layers > 1:
        head_mask[(seed + 1) % weights.num_layers] = 1.0
    inputs = [input_ids, attention_mask]
    if has_token_types:
        inputs.append(torch.zeros(batch, tokens, dtype=torch.int64))
    return tuple(inputs + [target, head_mask])


def trace(weights: CanonicalWeights, methods: Sequence[str], has_token_types: bool) -> torch.fx.GraphModule:
    """The explain function as one graph of core ATen operations with symbolic batch and sequence sizes.

    ``make_fx`` is the public way to trace a function together with its ``autograd.grad`` calls.
    ``_allow_non_fake_inputs`` is its keyword (in its signature from torch 2.0 to 2.14) for a function that
    reads real tensors besides its inputs: the weights, which become constants of the graph. Without it the
    weights would have to be inputs, traced with symbolic shapes that alias the batch and sequence sizes."""
    from torch.fx.experimental.proxy_tensor import make_fx

    function = explain_function(weights, methods, has_token_types)
    traced = make_fx(
        function, decomposition_table=decomposition_table(), tracing_mode="symbolic", _allow_non_fake_inputs=True
    )(*example_inputs(weights, 3, 17, has_token_types))
    return share_forward_passes(traced)  # one forward pass for every rule set (graph_passes)


@contextlib.contextmanager
def quiet_exporter() -> Iterator[None]:
    """Keep the exporter's notes to its own developers (training mode, torchvision, axis names) out of the
    user's terminal; errors still raise."""
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        exporter_log.setLevel(level)


def export_onnx(
    weights: CanonicalWeights,
    methods: Sequence[str],
    has_token_types: bool,
    path: Path,
    opset: int,
    skip_idle: bool = True,
) -> list[str]:
    """Write the explain graph to ``path``; returns the ONNX output names (logits first). ``skip_idle``:
    skip the exporter's second decomposition pass where it changes nothing (see ``decompositions``)."""
    graph = trace(weights, methods, has_token_types)
    names = input_names(has_token_types)
    outputs = [artifact.LOGITS] + [artifact.relevance_output_name(m) for m in methods]
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    shapes: list[dict[int, torch.export.Dim]] = [{0: batch, 1: sequence}] * (len(names) - 2) + [{0: batch}, {}]
    skipping: contextlib.AbstractContextManager[list[str]] = (
        skip_idle_decompositions() if skip_idle else contextlib.nullcontext([])
    )
    with skipping, quiet_exporter():
        program = torch.onnx.export(
            graph,
            example_inputs(weights, 3, 17, has_token_types),
            dynamic_shapes=tuple(shapes),
            input_names=names,
            output_names=outputs,
            opset_version=opset,
            dynamo=True,
            optimize=False,
            verbose=False,
        )
    if program is None:  # dynamo=True always returns a program; None is the TorchScript exporter's answer
        raise RuntimeError("torch.onnx.export returned no ONNX program")
    program.save(str(path), external_data=False)
    return outputs
