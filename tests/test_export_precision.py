"""Reduced-precision artifacts: the int8 graph (integer products, int8 weights, batch-independent), the fp16
graph, and the fidelity each reports in its manifest."""

from __future__ import annotations

import csv
import json
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from onnxplain.cli import main
from onnxplain.export import graph
from onnxplain.export.checkpoint import load_checkpoint
from onnxplain.export.fidelity import average_ranks, spearman, top_overlap
from onnxplain.export.int8 import ACTIVATION_LEVELS, LEVELS, quantise_int8, weight_source
from onnxplain.export.precision import own_relevance_path
from onnxplain.runtime import Explainer, FidelityWarning
from onnxplain.runtime.artifact import MODEL_FILE, manifest_schema, read_manifest
from onnxplain.runtime.pruning import needed_names

WORDS = (
    "the film was a quiet and warm story about a captain his daughter and an old boat that nobody wanted "
    "to keep the acting felt honest the jokes mostly landed and the music never pushed too hard"
).split()


def labelled_csv(path: Path, count: int, labels: int, seed: int = 0) -> Path:
    generator = np.random.default_rng(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for row in range(count):
            words = generator.choice(WORDS, size=24 + row % 7)
            writer.writerow([" ".join(words), row % labels])
    return path


def run_graph(model: onnx.ModelProto, inputs: tuple[torch.Tensor, ...]) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    feeds = {n: t.numpy() for n, t in zip(graph.input_names(True), inputs, strict=True)}
    return session.run(None, feeds)


def test_int8_graph_multiplies_every_weight_in_integers_and_keeps_examples_apart(
    tiny_model_dir: Path, tiny_artifact: Path
) -> None:
    model = onnx.load(str(tiny_artifact / MODEL_FILE))
    quantised = quantise_int8(model)
    operators = Counter(node.op_type for node in quantised.model.graph.node)
    assert quantised.integer_products and not quantised.fp32_products
    assert operators["MatMulInteger"] == len(quantised.integer_products)
    large = {t.name: None for t in model.graph.initializer if len(t.dims) == 2 and min(t.dims) >= 16}
    producers = {out: n for n in quantised.model.graph.node for out in n.output}
    for node in quantised.model.graph.node:  # no fp32 product reads a weight matrix (the 3-label head is none)
        if node.op_type in ("Gemm", "MatMul"):
            assert weight_source(node.input[1], producers, large) is None, node.name
    stored = [
        t for t in quantised.model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT and len(t.dims) == 2
    ]
    assert all(min(t.dims) < 16 for t in stored)  # every weight matrix is int8 (a 3-label head stays fp32)

    def weight_bytes(m: onnx.ModelProto) -> int:
        return sum(t.ByteSize() for t in m.graph.initializer)

    assert weight_bytes(quantised.model) < 0.3 * weight_bytes(model)

    weights = load_checkpoint(tiny_model_dir).weights
    inputs = graph.example_inputs(weights, 4, 19, True, seed=3)
    fp32, int8 = run_graph(model, inputs), run_graph(quantised.model, inputs)
    assert all(np.isfinite(value).all() for value in int8)
    assert np.abs(int8[0] - fp32[0]).max() < 0.1 * np.abs(fp32[0]).max()  # logits
    alone = run_graph(quantised.model, tuple(t[1:2] if t.dim() and t.shape[0] == 4 else t for t in inputs))
    for together, single in zip(int8, alone, strict=True):  # each row is quantised by itself
        assert np.allclose(together[1:2], single, rtol=1e-4, atol=1e-6 * max(1.0, float(np.abs(single).max())))


def test_integer_products_are_exact_at_the_quantisers_extremes() -> None:
    """ONNX Runtime's MatMulInteger at the largest activation the quantiser writes and weights of either sign at
    the int8 range (LEVELS) equals the exact integer product on this CPU: without VNNI its int16 pair sums
    saturate at a wider activation range, which would make an int8 artifact's results depend on the machine."""
    rng = np.random.default_rng(0)
    top = int(ACTIVATION_LEVELS) + 1  # a row's rounded zero point and value can add up to one step more
    activations = np.full((8, 384), top, dtype=np.uint8)
    activations[1::2] = rng.integers(0, top + 1, (4, 384), dtype=np.uint8)
    weights = rng.choice(np.array([-LEVELS, LEVELS], dtype=np.int8), (384, 64))
    weights[:, ::3] = rng.integers(-int(LEVELS), int(LEVELS) + 1, (384, 22), dtype=np.int8)
    node = onnx.helper.make_node("MatMulInteger", ["a", "w"], ["y"])
    graph = onnx.helper.make_graph(
        [node],
        "product",
        [onnx.helper.make_tensor_value_info("a", onnx.TensorProto.UINT8, list(activations.shape))],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.INT32, [8, 64])],
        [onnx.numpy_helper.from_array(weights, "w")],
    )
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 13)])
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    [product] = session.run(None, {"a": activations})
    assert np.array_equal(product, activations.astype(np.int64) @ weights.astype(np.int64))


def test_each_output_channel_of_a_weight_has_its_own_scale_in_every_product_reading_it() -> None:
    """A weight whose output channels differ a thousand-fold in size, read by a forward product ``x W`` and by
    backward ones through its transpose and absolute value (``S Wᵀ``, ``S |W|ᵀ``, which sum over those channels):
    every channel's result stays within a few percent of fp32, the small channels too (one scale per matrix
    would leave them a handful of integer steps)."""
    rng = np.random.default_rng(1)
    channels = np.logspace(-3, 0, 32).astype(np.float32)
    weight = (rng.standard_normal((48, 32)) * channels).astype(np.float32)
    nodes = [
        onnx.helper.make_node("MatMul", ["x", "w"], ["forward"], name="forward"),
        onnx.helper.make_node("Transpose", ["w"], ["w_t"], name="w_t", perm=[1, 0]),
        onnx.helper.make_node("MatMul", ["s", "w_t"], ["backward"], name="backward"),
        onnx.helper.make_node("Abs", ["w_t"], ["w_t_abs"], name="w_t_abs"),
        onnx.helper.make_node("MatMul", ["s", "w_t_abs"], ["backward_abs"], name="backward_abs"),
    ]
    graph = onnx.helper.make_graph(
        nodes,
        "channels",
        [
            onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [6, 48]),
            onnx.helper.make_tensor_value_info("s", onnx.TensorProto.FLOAT, [6, 32]),
        ],
        [
            onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None)
            for n in ("forward", "backward", "backward_abs")
        ],
        [onnx.numpy_helper.from_array(weight, "w")],
    )
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 18)])
    model.ir_version = 8
    quantised = quantise_int8(model)
    assert sorted(quantised.integer_products) == ["backward", "backward_abs", "forward"]
    x = rng.standard_normal((6, 48)).astype(np.float32)
    s = (rng.standard_normal((6, 32)) / channels).astype(np.float32)  # the backward's relevance, any size
    exact, reduced = (
        ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x, "s": s})
        for m in (model, quantised.model)
    )
    forward_error = np.abs(reduced[0] - exact[0]).max(axis=0) / np.abs(exact[0]).max(axis=0)
    assert forward_error.max() < 0.05  # per output channel, the smallest ones included
    for got, want in zip(reduced[1:], exact[1:], strict=True):  # these sum over the channels: per row
        assert (np.abs(got - want).max(axis=1) / np.abs(want).max(axis=1)).max() < 0.05


def test_an_activation_that_is_never_negative_is_quantised_from_zero_with_no_zero_point_to_take_out() -> None:
    """``|x| |W|^T`` (Chefer's linear rule) quantises ``|x|`` with its rows' zero points at 0: no minimum, no
    zero point and no correction of the product, the same steps as a signed row's quantisation would give it
    (its range widened to 0 is its maximum); the signed ``x W^T`` beside it keeps them."""
    rng = np.random.default_rng(2)
    helper = onnx.helper
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["signed"], name="signed"),
        helper.make_node("Abs", ["x"], ["x_abs"], name="abs"),
        helper.make_node("Reshape", ["x_abs", "shape"], ["x_abs_2d"], name="view"),  # seen through a reshape
        helper.make_node("MatMul", ["x_abs_2d", "w"], ["magnitude"], name="magnitude"),
    ]
    graph_proto = helper.make_graph(
        nodes,
        "magnitude",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [6, 48])],
        [helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, [6, 32]) for n in ("signed", "magnitude")],
        [
            onnx.numpy_helper.from_array(rng.standard_normal((48, 32)).astype(np.float32), "w"),
            onnx.numpy_helper.from_array(np.array([6, 48], dtype=np.int64), "shape"),
        ],
    )
    model = helper.make_model(graph_proto, opset_imports=[helper.make_opsetid("", 18)])
    quantised = quantise_int8(model)
    kinds = Counter(n.op_type for n in quantised.model.graph.node)
    assert kinds["MatMulInteger"] == 2 and kinds["ReduceMin"] == 1 and kinds["Gemm"] == 1  # the signed one's
    feeds = {"x": rng.standard_normal((6, 48)).astype(np.float32)}
    exact, reduced = (
        ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
        for m in (model, quantised.model)
    )
    for got, want in zip(reduced, exact, strict=True):
        assert (np.abs(got - want).max(axis=1) / np.abs(want).max(axis=1)).max() < 0.05


@pytest.mark.parametrize("b_reads_a", [False, True])
def test_a_method_kept_in_fp32_gets_its_own_copy_of_the_nodes_it_shares(b_reads_a: bool) -> None:
    """Two methods share a relevance product (as ``mask-lrp`` and ``grad-input`` share a gradient pass): keeping
    ``a``'s path in fp32 copies the shared nodes for ``a`` alone, so ``b``'s product stays an integer one, and
    every output keeps its value. With ``b`` reading ``a``'s own output, the copy makes ``a`` and ``b`` reads
    the twin."""
    rng = np.random.default_rng(0)
    helper = onnx.helper
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["logits"], name="forward"),
        helper.make_node("Relu", ["logits"], ["h"], name="relu"),
        helper.make_node("MatMul", ["h", "w2"], ["s"], name="shared_product"),
        helper.make_node("Mul", ["s", "s"], ["a"], name="a_only"),
        helper.make_node("Sub", ["s", "a"], ["b"], name="b_only")
        if b_reads_a
        else helper.make_node("Neg", ["s"], ["b"], name="b_only"),
    ]
    graph_proto = helper.make_graph(
        nodes,
        "two methods",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [4, 32])],
        [helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, [4, 32]) for name in ("logits", "a", "b")],
        [onnx.numpy_helper.from_array(rng.standard_normal((32, 32)).astype(np.float32), w) for w in ("w1", "w2")],
    )
    model = helper.make_model(graph_proto, opset_imports=[helper.make_opsetid("", 18)])
    feeds = {"x": rng.standard_normal((4, 32)).astype(np.float32)}

    def outputs(m: onnx.ModelProto) -> list[np.ndarray]:
        return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)

    before = outputs(model)
    path = own_relevance_path(model, "a")
    onnx.checker.check_model(model)
    assert path == {"relu/a", "shared_product/a", "a_only/a" if b_reads_a else "a_only"}
    for got, want in zip(outputs(model), before, strict=True):
        assert np.array_equal(got, want)
    assert not path & {n.name for n in needed_names(model.graph, ["b"])[0]}

    quantised = quantise_int8(model, keep_fp32=path)
    for output, integer in (("a", 1), ("b", 2)):  # the forward's product, and b's relevance product
        kinds = Counter(n.op_type for n in needed_names(quantised.model.graph, [output])[0])
        assert kinds["MatMulInteger"] == integer and kinds["MatMul"] == 2 - integer
    assert sorted(quantised.fp32_products) == ["shared_product/a"]


def test_fidelity_measures() -> None:
    assert list(average_ranks(np.array([3.0, 1.0, 3.0, 2.0]))) == [2.5, 0.0, 2.5, 1.0]
    assert spearman(np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0, 30.0])) == pytest.approx(1.0)
    assert spearman(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])) == pytest.approx(-1.0)
    assert top_overlap(np.arange(8.0), np.arange(8.0)[::-1], k=5) == pytest.approx(2 / 5)


def test_quantize_command_writes_an_int8_artifact_with_its_fidelity(
    tiny_artifact: Path, tmp_path: Path, capsys
) -> None:
    manifest = read_manifest(tiny_artifact)
    data = labelled_csv(tmp_path / "heldout.csv", 8, len(manifest.labels))
    out = tmp_path / "int8"
    assert main(["quantize", str(tiny_artifact), str(out), "--precision", "int8", "--data", str(data)]) == 0
    reduced = read_manifest(out)
    assert reduced.extra["precision"] == "int8"
    fidelity = reduced.extra["fidelity"]
    assert fidelity["data"]["texts"] == 8 and set(fidelity["methods"]) == set(manifest.methods)
    for measures in fidelity["methods"].values():
        assert -1.0 <= measures["spearman_p5"] <= measures["spearman_median"] <= 1.0
        assert 0.0 <= measures["top5_overlap"] <= 1.0 and 0.0 <= measures["prediction_agreement"] <= 1.0
        assert measures["relevance_path"] in ("int8", "fp32") and isinstance(measures["recommended"], bool)
        assert measures["recommended"] == (
            abs(measures["aopc_relative_difference"]) <= fidelity["thresholds"]["aopc_relative"]
            and measures["spearman_median"] >= fidelity["thresholds"]["spearman_median"]
            and measures["check_against_pytorch"]
        )
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(json.loads((out / "manifest.json").read_text()), manifest_schema())
    explanation = Explainer.load(out).explain("a warm and honest film", "attnlrp")[0]
    assert np.isfinite(explanation.relevance).all()
    assert "Spearman median" in capsys.readouterr().out

    # a method the measurement did not recommend says so: a warning once per explainer, and in every result
    written = json.loads((out / "manifest.json").read_text())
    written["fidelity"]["methods"]["attnlrp"]["recommended"] = False
    written["fidelity"]["methods"]["mask-lrp"]["recommended"] = True
    (out / "manifest.json").write_text(json.dumps(written))
    explainer = Explainer.load(out)
    # the sentence the JavaScript client gives too (clients/js/test/node/artifact.test.mjs), word for word
    sentence = (
        "attnlrp is not recommended on this int8 artifact: its relevance fell short of the fp32 artifact's "
        "on held-out texts (manifest fidelity); explain it with the fp32 artifact"
    )
    with pytest.warns(FidelityWarning) as caught:
        first = explainer.explain(["a warm film", "a cold one"], "attnlrp")
        explainer.explain("again", "attnlrp")
    assert [str(w.message) for w in caught if w.category is FidelityWarning] == [sentence]
    assert all(r.metadata["not_recommended"] == sentence for r in first)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "not_recommended" not in explainer.explain("a warm film", "mask-lrp")[0].metadata
    assert read_manifest(tiny_artifact).not_recommended("attnlrp") is None  # fp32: never


def test_fp16_artifact_is_checked_against_pytorch_at_its_tolerance(tiny_artifact: Path, tmp_path: Path) -> None:
    manifest = read_manifest(tiny_artifact)
    data = labelled_csv(tmp_path / "heldout.csv", 6, len(manifest.labels), seed=1)
    out = tmp_path / "fp16"
    assert main(["quantize", str(tiny_artifact), str(out), "--precision", "fp16", "--data", str(data)]) == 0
    reduced = read_manifest(out)
    assert reduced.extra["precision"] == "fp16"
    types = Counter(t.data_type for t in onnx.load(str(out / MODEL_FILE)).graph.initializer if len(t.dims) == 2)
    assert types[onnx.TensorProto.FLOAT16] > 0
    checked = [m["check_against_pytorch"] for m in reduced.extra["fidelity"]["methods"].values()]
    assert sum(checked) >= len(checked) // 2  # most methods stay within fp16's tolerance class


def test_reduced_precision_needs_held_out_data(tiny_model_dir: Path, tmp_path: Path) -> None:
    from onnxplain.errors import UserError
    from onnxplain.export import export_model

    with pytest.raises(UserError, match="--fidelity-data"):
        export_model(tiny_model_dir, tmp_path / "out", methods=["cp-lrp"], precision="int8")
