"""The node order the runtime chooses for memory (``onnxplain.runtime.schedule``): a topological order that
runs a shrinking node at once and a backward-only node late, sessions built on it compute what sessions in
ONNX Runtime's own order do, and the optimised graph reads the artifact's weights from the shared file."""

from __future__ import annotations

import gc
import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxplain.runtime import schedule
from onnxplain.runtime.artifact import LOGITS, MODEL_FILE, read_manifest
from onnxplain.runtime.pruning import needed_names
from onnxplain.runtime.sessions import SessionPool, choose_device


def live_peak(nodes: list[onnx.NodeProto], sizes: dict[str, int], outputs: set[str]) -> int:
    """Peak bytes of live tensors running ``nodes`` in order: made when produced, freed after the last read."""
    last = {name: index for index, node in enumerate(nodes) for name in node.input}
    alive: dict[str, int] = {}
    peak = 0
    for index, node in enumerate(nodes):
        alive.update({name: sizes[name] for name in node.output})
        peak = max(peak, sum(alive.values()))
        for name in list(alive):
            if last.get(name, -1) <= index and name not in outputs:
                del alive[name]
    return peak


def chain_graph() -> tuple[list[onnx.NodeProto], dict[str, int]]:
    """A "forward" chain x -> f1 -> ... -> f6, a big ``|x|`` read only by the last node (a backward rule's
    forward-only part), and a big ``-x`` whose only reader is a reduction, listed as a bad order would run
    them: ``|x|`` first, the reduction last."""
    nodes = [helper.make_node("Abs", ["x"], ["abs_x"], name="abs")]
    nodes.append(helper.make_node("Neg", ["x"], ["big"], name="neg"))
    previous = "x"
    for step in range(1, 7):
        nodes.append(helper.make_node("Relu", [previous], [f"f{step}"], name=f"f{step}"))
        previous = f"f{step}"
    nodes.append(helper.make_node("ReduceSum", ["big"], ["small"], name="reduce", keepdims=0))
    nodes.append(helper.make_node("Mul", [previous, "abs_x"], ["product"], name="mul"))
    nodes.append(helper.make_node("Add", ["product", "small"], ["out"], name="add"))
    kib = 1024
    sizes = {name: 100 * kib for node in nodes for name in node.output}
    sizes.update(abs_x=1000 * kib, big=1000 * kib, small=1 * kib)
    return nodes, sizes


def test_memory_order_is_topological_and_lowers_the_peak() -> None:
    nodes, sizes = chain_graph()
    ordered = schedule.memory_order(nodes, sizes)
    assert sorted(node.name for node in ordered) == sorted(node.name for node in nodes)
    produced = {"x"}
    for node in ordered:
        assert set(node.input) <= produced, f"{node.name} runs before its inputs"
        produced.update(node.output)
    names = [node.name for node in ordered]
    assert names.index("reduce") == names.index("neg") + 1  # frees -x at once
    assert names.index("abs") > names.index("f6")  # made where it is read, after the forward chain
    assert live_peak(ordered, sizes, {"out"}) < live_peak(nodes, sizes, {"out"})


def test_a_negligible_node_runs_when_ready_and_does_not_hold_up_its_reader() -> None:
    """A scalar Cast of a constant (no inputs, a few bytes, nothing freed) feeds the clamp of a big product:
    run by the longest path it would wait for the end, and the product with it."""
    nodes = [helper.make_node("Relu", ["x"], ["f1"], name="f1")]
    nodes.append(helper.make_node("Neg", ["f1"], ["f2"], name="f2"))
    nodes.append(helper.make_node("Mul", ["x", "x"], ["big"], name="big"))
    nodes.append(helper.make_node("Cast", ["zero_constant"], ["zero"], name="cast", to=TensorProto.FLOAT))
    nodes.append(helper.make_node("Max", ["big", "zero"], ["clamped"], name="clamp"))
    nodes.append(helper.make_node("ReduceSum", ["clamped"], ["small"], name="reduce", keepdims=0))
    nodes.append(helper.make_node("Add", ["f2", "small"], ["out"], name="add"))
    mib = 1 << 20
    sizes = {"f1": 10 * mib, "f2": 10 * mib, "big": 100 * mib, "zero": 4, "clamped": 100 * mib, "small": 4, "out": 4}
    names = [node.name for node in schedule.memory_order(nodes, sizes)]
    assert names.index("clamp") == names.index("big") + 1 and names.index("reduce") == names.index("clamp") + 1
    assert live_peak(schedule.memory_order(nodes, sizes), sizes, {"out"}) <= 2 * 100 * mib + 10 * mib


def test_a_node_does_not_free_a_buffer_that_a_view_of_it_still_needs() -> None:
    """A linear layer's output (``big``) is read by the forward and kept for the backward through a view (a
    Reshape, which shares its buffer); a backward rule's ``big - bias`` reads it directly. Counted by names,
    the Sub would look like the last reader that frees ``big`` and run at once, keeping both to the end; it
    runs where it is read."""
    nodes = [helper.make_node("Neg", ["x"], ["big"], name="big")]
    nodes.append(helper.make_node("Reshape", ["big", "shape"], ["view"], name="view"))
    nodes.append(helper.make_node("Sub", ["big", "bias"], ["product"], name="sub"))
    nodes.append(helper.make_node("Relu", ["view"], ["f0"], name="f0"))  # the forward reads the view too
    previous = "f0"
    for step in range(1, 7):
        nodes.append(helper.make_node("Relu", [previous], [f"f{step}"], name=f"f{step}"))
        previous = f"f{step}"
    nodes.append(helper.make_node("Mul", [previous, "view"], ["late"], name="late"))
    nodes.append(helper.make_node("Mul", ["late", "product"], ["out"], name="out"))
    kib = 1024
    sizes = {name: 100 * kib for node in nodes for name in node.output}
    sizes.update(big=1000 * kib, view=1000 * kib, product=1000 * kib)
    names = [node.name for node in schedule.memory_order(nodes, sizes)]
    assert names.index("sub") > names.index("f6")


def residual_graph(read_late: bool) -> tuple[list[onnx.NodeProto], dict[str, int]]:
    """A residual sum ``s = x + w`` read by the forward (``h``) and by a backward rule (``late``) after the
    peak (``big``); ``w`` is read at the end too when ``read_late``, otherwise only by the sum."""
    nodes = [helper.make_node("Softsign", ["x"], ["w"], name="w")]  # not one to compute twice
    nodes.append(helper.make_node("Add", ["x", "w"], ["s"], name="s"))
    nodes.append(helper.make_node("Relu", ["s"], ["h"], name="h"))
    nodes.append(helper.make_node("Neg", ["h"], ["big"], name="big"))
    nodes.append(helper.make_node("ReduceSum", ["big"], ["small"], name="reduce", keepdims=1))
    nodes.append(helper.make_node("Mul", ["h", "small"], ["g"], name="g"))
    nodes.append(helper.make_node("Reshape", ["s", "shape"], ["view"], name="view"))
    nodes.append(helper.make_node("Mul", ["view", "g"], ["late"], name="late"))
    nodes.append(helper.make_node("Add", ["late", "w" if read_late else "g"], ["out"], name="out"))
    mib = 1 << 20
    sizes = {name: mib for node in nodes for name in node.output}
    sizes.update(big=10 * mib, small=4, view=0)
    return nodes, sizes


def buffer_peak(order: list[onnx.NodeProto], sizes: dict[str, int]) -> int:
    """Peak bytes of live buffers running ``order``, a view keeping its input's buffer alive."""
    return max(schedule.live_bytes(range(len(order)), schedule.buffers(order, sizes)))


def run_graph(nodes: list[onnx.NodeProto], x: np.ndarray) -> np.ndarray:
    graph = helper.make_graph(
        nodes,
        "residual",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [None])],
        [numpy_helper.from_array(np.array([-1], dtype=np.int64), "shape")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_a_sum_held_across_the_peak_is_computed_again_for_its_late_reader() -> None:
    """The sum's inputs live to the end anyway: a copy made after the peak, for the late reader (through its
    view), lowers the peak by the sum's bytes; the graph computes the same."""
    nodes, sizes = residual_graph(read_late=True)
    ordered = schedule.recomputing_order(nodes, sizes)
    copies = [node for node in ordered if node.name.endswith(schedule.RECOMPUTED)]
    assert [node.op_type for node in copies] == ["Add"]
    names = [node.name for node in ordered]
    assert names.index(copies[0].name) > names.index("reduce")
    assert next(node for node in ordered if node.name == "view").input[0] == copies[0].output[0]
    produced = {"x", "shape"}
    for node in ordered:
        assert set(node.input) <= produced, f"{node.name} runs before its inputs"
        produced.update(node.output)
    copied_sizes = {**sizes, copies[0].output[0]: sizes["s"]}
    assert buffer_peak(ordered, copied_sizes) == buffer_peak(schedule.memory_order(nodes, sizes), sizes) - (1 << 20)
    x = np.linspace(-2, 2, 7, dtype=np.float32)
    np.testing.assert_array_equal(run_graph(ordered, x), run_graph(nodes, x))


def test_no_copy_where_an_input_would_live_longer_for_it() -> None:
    nodes, sizes = residual_graph(read_late=False)
    ordered = schedule.recomputing_order(nodes, sizes)
    assert [node.name for node in ordered] == [node.name for node in schedule.memory_order(nodes, sizes)]


def test_a_value_made_early_only_to_free_its_input_is_made_late_from_a_copy_of_that_input() -> None:
    """A scaled query ``m = t * 2``, ``t`` a transposed ``q``: the forward reads ``t``, then ``m`` frees it and
    runs at once, though only the backward reads ``m``. ``q`` lives to the end anyway: ``t`` is computed again
    after the peak and ``m`` from it, where it is read."""
    nodes = [helper.make_node("Softsign", ["x"], ["q"], name="q")]
    nodes.append(helper.make_node("Transpose", ["q"], ["t"], name="t"))
    nodes.append(helper.make_node("Relu", ["t"], ["h"], name="h"))
    nodes.append(helper.make_node("Mul", ["t", "two"], ["m"], name="m"))
    nodes.append(helper.make_node("Neg", ["h"], ["big"], name="big"))
    nodes.append(helper.make_node("ReduceSum", ["big"], ["small"], name="reduce", keepdims=1))
    nodes.append(helper.make_node("Neg", ["small"], ["scale"], name="scale"))  # the forward goes on
    nodes.append(helper.make_node("Mul", ["m", "scale"], ["late"], name="late"))
    nodes.append(helper.make_node("MatMul", ["late", "q"], ["out"], name="out"))
    mib = 1 << 20
    sizes = {name: mib for node in nodes for name in node.output}
    sizes.update(big=10 * mib, small=4, scale=4)
    plain = schedule.memory_order(nodes, sizes)
    assert [node.name for node in plain].index("m") < [node.name for node in plain].index("big")
    ordered = schedule.recomputing_order(nodes, sizes)
    copies = [node for node in ordered if node.name.endswith(schedule.RECOMPUTED)]
    assert [node.op_type for node in copies] == ["Transpose"]
    names = [node.name for node in ordered]
    assert names.index("reduce") < names.index(copies[0].name) < names.index("m")
    copied_sizes = {**sizes, copies[0].output[0]: mib}
    assert buffer_peak(ordered, copied_sizes) == buffer_peak(plain, sizes) - mib
    graph = helper.make_graph(
        ordered,
        "query",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [4, 4])],
        [numpy_helper.from_array(np.array(2, dtype=np.float32), "two")],
    )
    session = ort.InferenceSession(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    )
    x = np.arange(12, dtype=np.float32).reshape(3, 4) / 7 - 0.5
    q = x / (1 + np.abs(x))
    t = q.T
    want = (t * 2 * np.maximum(t, 0).sum(keepdims=True)) @ q
    np.testing.assert_allclose(session.run(None, {"x": x})[0], want, rtol=1e-5)


def test_a_sum_held_across_two_peaks_is_copied_once_for_each_under_names_of_its_own() -> None:
    """A sum read before, between and after two wide values, the later one wider: the first round copies it
    for its read after the later peak, the next round for its read between them; each copy has a name and
    output of its own (one graph cannot hold two nodes or values of one name), and the graph computes the same."""
    nodes = [helper.make_node("Add", ["x", "x"], ["s"], name="s")]
    nodes.append(helper.make_node("Softsign", ["s"], ["a"], name="a"))
    nodes.append(helper.make_node("Neg", ["a"], ["wide_first"], name="wide_first"))
    nodes.append(helper.make_node("ReduceSum", ["wide_first"], ["first"], name="first", keepdims=1))
    nodes.append(helper.make_node("Mul", ["s", "first"], ["c"], name="c"))
    nodes.append(helper.make_node("Neg", ["c"], ["wide_second"], name="wide_second"))
    nodes.append(helper.make_node("ReduceSum", ["wide_second"], ["second"], name="second", keepdims=1))
    nodes.append(helper.make_node("Mul", ["s", "second"], ["out"], name="out"))
    mib = 1 << 20
    sizes = {name: mib for node in nodes for name in node.output}
    sizes.update(wide_first=10 * mib, wide_second=10 * mib + mib // 2, first=4, second=4)
    ordered = schedule.recomputing_order(nodes, sizes)
    copies = [node for node in ordered if node.name.endswith(schedule.RECOMPUTED)]
    assert [node.op_type for node in copies] == ["Add", "Add"]
    assert len({node.name for node in ordered}) == len(ordered)
    outputs = [name for node in ordered for name in node.output]
    assert len(set(outputs)) == len(outputs)
    names = [node.name for node in ordered]
    assert names.index("first") < names.index(copies[0].name) < names.index("c")
    assert names.index("second") < names.index(copies[1].name) < names.index("out")
    x = np.linspace(-2, 2, 7, dtype=np.float32)
    np.testing.assert_array_equal(run_graph(ordered, x), run_graph(nodes, x))


def test_nominal_dimension_scales_the_probe_s_batch_and_length() -> None:
    nominal = schedule.nominal_dimension
    scaled = {5: 8, 19: 512, 5 * 19: 4096, 5 * 12: 96, 19 * 19: 512 * 512}  # batch x heads, [T, T] flattened
    assert {size: nominal(size) for size in scaled} == scaled
    for model_dimension in (1, 2, 12, 32, 384, 768, 1536, 3072, 30522):
        assert nominal(model_dimension) == model_dimension


def test_memory_order_rejects_a_cycle() -> None:
    nodes = [
        helper.make_node("Relu", ["b"], ["a"], name="one"),
        helper.make_node("Relu", ["a"], ["b"], name="two"),
    ]
    with pytest.raises(ValueError, match="cycle"):
        schedule.memory_order(nodes, {})


def test_value_bytes_reads_symbolic_shapes() -> None:
    value = helper.make_tensor_value_info("v", TensorProto.FLOAT, ["batch", "sequence", 4])
    mask = helper.make_tensor_value_info("m", TensorProto.BOOL, ["batch", "other"])
    assert schedule.value_bytes([value, mask], {"batch": 2, "sequence": 3}) == {"v": 2 * 3 * 4 * 4, "m": 2}


def feeds_for(artifact: Path, session: ort.InferenceSession) -> dict[str, np.ndarray]:
    manifest = read_manifest(artifact)
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 90, size=(3, 11)).astype(np.int64)
    mask = np.ones_like(ids)
    mask[1, 7:] = 0
    every = {
        "input_ids": ids,
        "attention_mask": mask,
        "token_type_ids": np.zeros_like(ids),
        "target": np.array([-1, 0, 2], dtype=np.int64),
        "head_mask": np.asarray(manifest.default_head_mask, dtype=np.float32),
    }
    wanted = {i.name for i in session.get_inputs()}
    return {name: value for name, value in every.items() if name in wanted}


def test_scheduled_sessions_compute_what_unscheduled_ones_do(
    tiny_artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every method's pruned session in the runtime's order against the same pruned graph in ONNX Runtime's
    own order (pruning alone changes the last digits against the whole graph: another optimisation)."""
    manifest = read_manifest(tiny_artifact)
    plain = ort.InferenceSession(str(tiny_artifact / MODEL_FILE), providers=["CPUExecutionProvider"])
    feeds = feeds_for(tiny_artifact, plain)
    built: list[Path] = []
    original = schedule.scheduled_model

    def recording(path: Path, *args: object) -> Path:
        built.append(original(path, *args))  # type: ignore[arg-type]
        return built[-1]

    monkeypatch.setattr(schedule, "scheduled_model", recording)
    scheduled = SessionPool(tiny_artifact / MODEL_FILE, choose_device("cpu"), size=1)
    got = {m: scheduled.run([LOGITS, manifest.output_name(m)], feeds) for m in manifest.methods}
    assert len(built) == len(manifest.methods)
    scheduled.run([LOGITS], feeds)
    assert len(built) == len(manifest.methods), "a logits-only graph has no backward pass to schedule"

    monkeypatch.setattr(schedule, "scheduled_model", lambda path, *args: path)
    unscheduled = SessionPool(tiny_artifact / MODEL_FILE, choose_device("cpu"), size=1)
    for method in manifest.methods:
        want = unscheduled.run([LOGITS, manifest.output_name(method)], feeds)
        for name, value, expected in zip(("logits", method), got[method], want, strict=True):
            np.testing.assert_allclose(value, expected, rtol=1e-6, atol=1e-9, err_msg=f"{method}: {name}")


def test_a_scheduled_session_runs_the_recomputed_copy(tmp_path: Path) -> None:
    """A residual sum held across a wide product's peak, through ``scheduled_model`` (ONNX Runtime's optimiser,
    the probe's measured sizes): the scheduled graph computes the sum again, the session runs that copy
    (optimising the graph again would merge it back into the original: a common subexpression), and it
    computes what the graph in ONNX Runtime's own order does."""
    nodes = [helper.make_node("Softsign", ["x"], ["w"], name="w")]
    nodes.append(helper.make_node("Add", ["x", "w"], ["s"], name="s"))
    nodes.append(helper.make_node("Relu", ["s"], ["h"], name="h"))
    nodes.append(helper.make_node("MatMul", ["h", "wide"], ["big"], name="big"))  # 64 times the sum
    nodes.append(helper.make_node("ReduceMax", ["big"], ["small"], name="reduce", axes=[-1], keepdims=1))
    nodes.append(helper.make_node("Neg", ["small"], ["scale"], name="scale"))
    nodes.append(helper.make_node("Reshape", ["s", "shape"], ["view"], name="view"))
    nodes.append(helper.make_node("Mul", ["view", "scale"], ["late"], name="late"))
    nodes.append(helper.make_node("Add", ["late", "w"], ["out"], name="out"))
    rng = np.random.default_rng(0)
    graph = helper.make_graph(
        nodes,
        "residual",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "sequence", 64])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", "sequence", 64])],
        [
            numpy_helper.from_array(rng.standard_normal((64, 4096)).astype(np.float32), "wide"),
            numpy_helper.from_array(np.array([0, 0, -1], dtype=np.int64), "shape"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "graph.onnx"
    onnx.save(model, str(path))
    options = ort.SessionOptions()
    scheduled = schedule.scheduled_model(
        path, options, ["CPUExecutionProvider"], schedule.inferred_value_bytes(model), {}
    )
    copies = [n.name for n in onnx.load(str(scheduled)).graph.node if n.name.endswith(schedule.RECOMPUTED)]
    assert copies == ["s" + schedule.RECOMPUTED]
    options.enable_profiling = True
    options.profile_file_prefix = str(tmp_path / "profile")
    session = ort.InferenceSession(str(scheduled), options, providers=["CPUExecutionProvider"])
    x = rng.standard_normal((2, 5, 64)).astype(np.float32)
    got = session.run(None, {"x": x})[0]
    events = json.loads(Path(session.end_profiling()).read_text())
    assert {"s", *copies} <= {name for name, _, _ in schedule.profiled_nodes(events)}  # both, not merged
    plain = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(got, plain.run(None, {"x": x})[0], rtol=1e-6)


def test_optimised_graph_reads_the_shared_weights(tiny_artifact: Path, tmp_path: Path) -> None:
    """Initializers the optimiser kept read the shared file, with the same bytes; the session runs."""
    model = onnx.load(str(tiny_artifact / MODEL_FILE))
    manifest = read_manifest(tiny_artifact)
    outputs = [LOGITS, manifest.output_name("mask-lrp")]
    nodes, needed = needed_names(model.graph, outputs)
    originals = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    kept_outputs = [o for o in model.graph.output if o.name in outputs]
    kept_initializers = [t for t in model.graph.initializer if t.name in needed]
    del model.graph.node[:], model.graph.output[:], model.graph.initializer[:]
    model.graph.node.extend(nodes)
    model.graph.output.extend(kept_outputs)
    model.graph.initializer.extend(kept_initializers)
    path = tmp_path / "pruned.onnx"
    onnx.save(model, str(path), save_as_external_data=True, location="weights.bin", size_threshold=1024)
    external = onnx.load(str(path), load_external_data=False)
    shared = {t.name: t for t in external.graph.initializer if t.data_location == TensorProto.EXTERNAL}
    assert shared, "the tiny artifact has weights of at least 1 kB"

    options = ort.SessionOptions()
    scheduled = schedule.scheduled_model(
        path, options, ["CPUExecutionProvider"], schedule.inferred_value_bytes(model), shared
    )
    assert options.execution_order == ort.ExecutionOrder.PRIORITY_BASED
    result = onnx.load(str(scheduled), load_external_data=False)
    redirected = [
        t
        for t in result.graph.initializer
        if any(entry.key == "location" and entry.value == "weights.bin" for entry in t.external_data)
    ]
    assert redirected, "no optimised initializer reads the shared weights file"
    loaded = {t.name: t for t in onnx.load(str(scheduled)).graph.initializer}
    for tensor in redirected:
        np.testing.assert_array_equal(numpy_helper.to_array(loaded[tensor.name]), originals[tensor.name])
    session = ort.InferenceSession(str(scheduled), options, providers=["CPUExecutionProvider"])
    assert session.run(None, feeds_for(tiny_artifact, session))


def test_a_dropped_pool_removes_its_files_without_a_warning(tiny_artifact: Path) -> None:
    """Dropping an explainer is normal use: its scratch files go with it and the caller sees no ResourceWarning
    (a warning there had landed inside a caller's pytest.warns block)."""
    pool = SessionPool(tiny_artifact / MODEL_FILE, choose_device("cpu"), size=1)
    pool.run([LOGITS], feeds_for(tiny_artifact, pool.session([LOGITS])))
    directory = pool._directory
    assert any(directory.iterdir())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del pool
        gc.collect()
    assert not directory.exists()
    assert [str(w.message) for w in caught] == []
