"""The exported explain graph: ONNX Runtime equals eager PyTorch for every method at several shapes, the
head mask is a required input that changes only the head-masked methods, and the artifact describes itself."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from onnxplain.errors import UserError
from onnxplain.export import export_model, graph
from onnxplain.export.checkpoint import load_checkpoint
from onnxplain.export.registry import METHOD_NAMES, METHODS, tolerance
from onnxplain.export.verify import ExportMismatch, check_against_eager, largest_relative_error
from onnxplain.runtime import artifact
from tests.contract import assert_matches_contract
from tests.graph_structure import optimised_operators, weights_expanded_to_a_batch
from tests.tiny_models import build_tiny_classifier


@pytest.fixture(scope="module")
def session(tiny_artifact: Path) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(tiny_artifact / artifact.MODEL_FILE), options)


@pytest.mark.parametrize(("batch", "tokens"), [(1, 2), (2, 9), (5, 31)])
def test_onnx_runtime_equals_eager_pytorch_for_every_method(
    tiny_model_dir: Path, session: onnxruntime.InferenceSession, batch: int, tokens: int
) -> None:
    weights = load_checkpoint(tiny_model_dir).weights
    inputs = list(graph.example_inputs(weights, batch, tokens, has_token_types=True, seed=batch))
    if batch == 5:  # a batch mixing lengths: rows padded to 31, 20, 7, 31, 13
        for row, length in enumerate((31, 20, 7, 31, 13)):
            inputs[1][row] = 0
            inputs[1][row, :length] = 1
            inputs[0][row, length:] = 0
    feeds = {name: t.numpy() for name, t in zip(graph.input_names(True), inputs, strict=True)}
    onnx_outputs = session.run(None, feeds)
    eager_outputs = graph.explain_function(weights, METHOD_NAMES, True)(*inputs)
    for name, got, expected in zip(["logits", *METHOD_NAMES], onnx_outputs, eager_outputs, strict=True):
        assert got.shape == tuple(expected.shape), name
        assert largest_relative_error(got, expected.numpy()) < tolerance(name), name


def test_head_mask_is_a_required_input_that_only_head_masked_methods_read(
    tiny_artifact: Path, session: onnxruntime.InferenceSession
) -> None:
    # format version 2: no initializer default, which onnxruntime-node and -web do not honour as Python does
    assert "head_mask" in [i.name for i in session.get_inputs()]
    assert "head_mask" not in [i.name for i in session.get_overridable_initializers()]
    manifest = artifact.read_manifest(tiny_artifact)
    input_ids = np.array([[101, 2023, 3185, 2001, 2307, 1998, 2200, 102]], dtype=np.int64)
    feeds = {
        "input_ids": input_ids,
        "attention_mask": np.ones_like(input_ids),
        "token_type_ids": np.zeros_like(input_ids),
        "target": np.array([-1], dtype=np.int64),
    }
    names = [manifest.output_name(m) for m in ("mask-lrp", "mask-attnlrp", "transatt", "attnlrp")]
    with pytest.raises(ValueError, match="head_mask"):
        session.run(names, feeds)
    default = session.run(names, {**feeds, "head_mask": np.array(manifest.default_head_mask, np.float32)})
    every_head = session.run(names, {**feeds, "head_mask": np.ones((2, 4), np.float32)})
    assert not np.allclose(default[0], every_head[0]) and not np.allclose(default[1], every_head[1])
    np.testing.assert_allclose(default[2], every_head[2], rtol=1e-6)  # transatt ignores the mask
    np.testing.assert_allclose(default[3], every_head[3], rtol=1e-6)  # attnlrp ignores the mask


def test_artifact_describes_itself(tiny_artifact: Path) -> None:
    manifest = artifact.read_manifest(tiny_artifact)
    assert manifest.inputs == ["input_ids", "attention_mask", "token_type_ids", "target", "head_mask"]
    assert list(manifest.methods) == list(METHOD_NAMES) and manifest.default_method == "mask-lrp"
    assert all(manifest.methods[name] == METHODS[name].record() for name in METHOD_NAMES)
    assert manifest.explained_position == artifact.FIRST_TOKEN
    assert set(manifest.files) == {artifact.MODEL_FILE, artifact.TOKENIZER_FILE}
    assert manifest.labels == {0: "label_0", 1: "label_1", 2: "label_2"}
    assert manifest.head_mask["default"] == [[0, 1, 0, 1], [1, 0, 1, 1]]
    assert manifest.head_mask["source"] == "test fixture"
    assert (manifest.num_layers, manifest.num_heads, manifest.max_length) == (2, 4, 64)
    model = onnx.load(str(tiny_artifact / artifact.MODEL_FILE), load_external_data=False)
    stored = {p.key: p.value for p in model.metadata_props}[artifact.METADATA_KEY]
    written = json.loads((tiny_artifact / artifact.MANIFEST_FILE).read_text())
    assert json.loads(stored) == {k: v for k, v in written.items() if k != "files"}  # its own hash it cannot hold
    assert not any(node.metadata_props for node in model.graph.node)  # the tracer's provenance is dropped
    assert [o.name for o in model.graph.output] == ["logits", *(r.output for r in manifest.methods.values())]
    assert manifest.format_version == artifact.FORMAT_VERSION == 3
    batch_axis = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_axis.dim_param and not batch_axis.HasField("dim_value")
    # every weight product stays one 2-D product: none is a batched product of a weight copied per example
    assert weights_expanded_to_a_batch(model) == []


def test_onnx_runtime_fuses_the_gelu_of_the_forward_and_of_chefers_rule(tiny_artifact: Path, tmp_path: Path) -> None:
    """The GELU of the forward pass and the one Chefer's feed-forward rule computes anew in its backward pass
    each run as one ``Gelu`` kernel of ONNX Runtime's (its fusion recognises the order of the exported
    operations); only the gradient pass's derivative keeps its ``Erf``. The tiny BERT uses GELU in its 2 layers."""
    model = onnx.load(str(tiny_artifact / artifact.MODEL_FILE))
    manifest = artifact.read_manifest(tiny_artifact)
    forward = optimised_operators(model, ["logits"], tmp_path)
    assert (forward["Gelu"], forward["Erf"]) == (2, 0)
    mask_lrp = optimised_operators(model, ["logits", manifest.output_name("mask-lrp")], tmp_path)
    assert (mask_lrp["Gelu"], mask_lrp["Erf"]) == (4, 2)
    cp_lrp = optimised_operators(model, ["logits", manifest.output_name("cp-lrp")], tmp_path)
    assert (cp_lrp["Gelu"], cp_lrp["Erf"]) == (2, 2)  # the identity rule's Phi(x), computed in the backward


def test_a_graph_that_disagrees_with_pytorch_fails_the_check(tiny_artifact: Path, tmp_path: Path) -> None:
    other = load_checkpoint(build_tiny_classifier(tmp_path / "other", "bert", seed=9)).weights
    with pytest.raises(ExportMismatch, match="differs from eager PyTorch"):
        check_against_eager(other, METHOD_NAMES, True, tiny_artifact / artifact.MODEL_FILE)


def test_bad_export_requests_fail_before_any_work(tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown method"):
        export_model(tiny_model_dir, tmp_path / "a", methods=["mask-lrp", "shap"])
    with pytest.raises(UserError, match="2x4 matrix"):
        export_model(tiny_model_dir, tmp_path / "b", head_mask=np.ones((4, 2)))
    assert not (tmp_path / "a" / artifact.MODEL_FILE).exists()


def test_one_method_export_checks_and_explains(
    tiny_model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="onnxplain.export.decompositions"):
        out = export_model(tiny_model_dir, tmp_path / "one", methods=["attnlrp"], max_length=32)
    # the traced graph holds no operation the exporter would decompose: its second pass was skipped
    assert not [r for r in caplog.records if "decomposes" in r.getMessage()]
    assert_matches_contract(out)
    manifest = artifact.read_manifest(out)
    assert [r.output for r in manifest.methods.values()] == ["relevance_attnlrp"] and manifest.max_length == 32
    assert manifest.default_method == "attnlrp"
    session = onnxruntime.InferenceSession(str(out / artifact.MODEL_FILE))
    ids = torch.tensor([[101, 2023, 2003, 102]])
    feeds = {
        "input_ids": ids.numpy(),
        "attention_mask": np.ones((1, 4), np.int64),
        "token_type_ids": np.zeros((1, 4), np.int64),
        "target": np.array([1], np.int64),
        "head_mask": np.asarray(manifest.default_head_mask, np.float32),
    }
    logits, relevance = session.run(None, feeds)
    assert logits.shape == (1, 3) and relevance.shape == (1, 4)


@pytest.mark.slow
def test_the_exporters_own_decomposition_pass_gives_the_same_graph(tmp_path: Path) -> None:
    """The public path without the shortcut of ``decompositions.skip_idle_decompositions`` (what a torch
    that stopped calling ``run_decompositions`` would take) exports a graph that computes the same."""
    model_dir = build_tiny_classifier(tmp_path / "model", "bert", seed=3, num_hidden_layers=1)
    weights = load_checkpoint(model_dir).weights
    methods = ["mask-lrp", "attnlrp", "grad-input"]
    paths = {skip: tmp_path / f"skip-{skip}.onnx" for skip in (True, False)}
    for skip, path in paths.items():
        graph.export_onnx(weights, methods, True, path, opset=18, skip_idle=skip)
    inputs = graph.example_inputs(weights, 2, 11, True, seed=4)
    feeds = {name: t.numpy() for name, t in zip(graph.input_names(True), inputs, strict=True)}
    shortcut, full = (onnxruntime.InferenceSession(str(p)).run(None, feeds) for p in paths.values())
    for name, a, b in zip(["logits", *methods], shortcut, full, strict=True):
        assert largest_relative_error(a, b) < 1e-5, name
