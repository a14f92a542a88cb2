"""Reduced-precision artifacts (``--precision int8|fp16``): derived from a checked fp32 artifact, measured
against it on held-out texts, and written with their fidelity in the manifest.

The first graph reduces every method. A method whose fidelity falls short (``fidelity.MethodFidelity``'s
``recommended``) then gets its relevance path (the nodes its output needs beyond the forward pass) kept in
fp32, in a copy of its own where other methods share those nodes, so that theirs stay reduced and as fast as
before, and every method is measured again; one still short after that is marked not recommended in the
manifest (``fidelity.methods[m].recommended``), which the runtime and its users can read. The forward pass
itself is always reduced: that is what the artifact is for.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import onnx

from onnxplain.errors import UserError
from onnxplain.export.fidelity import AOPC_TOLERANCE, MIN_MEDIAN_SPEARMAN, MethodFidelity, measure_fidelity
from onnxplain.runtime import artifact
from onnxplain.runtime.pruning import needed_names

PRECISIONS = ("fp32", "fp16", "int8")


def name_nodes(model: onnx.ModelProto) -> None:
    """Give every node a unique name (the reduced graphs name the nodes they keep in fp32)."""
    seen: set[str] = set()
    for index, node in enumerate(model.graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_{index}"
        seen.add(node.name)


def relevance_path(model: onnx.ModelProto, output: str) -> set[str]:
    """The nodes that ``output`` needs beyond those the logits need."""
    nodes, _ = needed_names(model.graph, [output])
    forward, _ = needed_names(model.graph, [artifact.LOGITS])
    return {n.name for n in nodes} - {n.name for n in forward}


def own_relevance_path(model: onnx.ModelProto, output: str) -> set[str]:
    """Give ``output`` its own copy of the nodes of its relevance path that other outputs need too (several
    methods share a gradient pass, for one), so that keeping its path in fp32 leaves theirs reduced; ``model``
    is changed in place. Returns the names of its path's nodes now: the copies and the nodes it had alone."""
    path = relevance_path(model, output)
    others = [o.name for o in model.graph.output if o.name != output]
    shared = path & {n.name for n in needed_names(model.graph, others)[0]}
    if not shared:
        return path
    renamed: dict[str, str] = {}  # a shared node's output -> its copy's
    nodes: list[onnx.NodeProto] = []
    copies: list[onnx.NodeProto] = []
    for node in model.graph.node:  # topological order: a copy's inputs are renamed before it
        nodes.append(node)
        if node.name in path:
            target = node
            if node.name in shared:
                target = onnx.NodeProto()
                target.CopyFrom(node)
                target.name = f"{node.name}/{output}"
                renamed.update({name: f"{name}/{output}" for name in node.output if name})
                target.output[:] = [renamed.get(name, name) for name in node.output]
                nodes.append(target)
                copies.append(target)
            target.input[:] = [renamed.get(name, name) for name in target.input]
    if output in renamed:  # another output reads this one's value: the copy now makes it, the shared node a twin
        mine = {id(node) for node in copies} | {id(node) for node in nodes if node.name in path - shared}
        for node in nodes:
            old, new = (renamed[output], output) if id(node) in mine else (output, f"{output}/shared")
            node.input[:] = [new if name == old else name for name in node.input]
            node.output[:] = [new if name == old else name for name in node.output]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return (path - shared) | {node.name for node in copies}


def reduce_graph(model: onnx.ModelProto, precision: str, keep_fp32: Collection[str]) -> onnx.ModelProto:
    if precision == "int8":
        from onnxplain.export.int8 import quantise_int8

        return quantise_int8(model, keep_fp32).model
    if precision == "fp16":
        from onnxplain.export.fp16 import convert_fp16

        return convert_fp16(model, keep_fp32)
    raise UserError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")


def held_out_texts(path: Path, manifest: artifact.Manifest, tokenizer: Path, limit: int) -> list[Any]:
    """The first ``limit`` labelled texts of ``path`` of at least 20 tokens (SPEC section 4), encoded."""
    from onnxplain.evaluation.data import read_labelled_texts
    from onnxplain.evaluation.encoding import select_texts
    from onnxplain.runtime.tokenization import TextTokenizer

    examples = read_labelled_texts(path, manifest)
    encodings = TextTokenizer(tokenizer, manifest.max_length).encode([e.text for e in examples])
    return select_texts(examples, encodings).texts[:limit]


def write_artifact(directory: Path, source: Path, model: onnx.ModelProto, manifest: artifact.Manifest) -> None:
    from onnxplain.export.exporter import finish_onnx

    directory.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(directory / artifact.MODEL_FILE))
    shutil.copy(source / artifact.TOKENIZER_FILE, directory / artifact.TOKENIZER_FILE)
    model_files = finish_onnx(directory / artifact.MODEL_FILE, manifest)
    files = artifact.record_files(directory, [*model_files, artifact.TOKENIZER_FILE])
    artifact.write_manifest(directory, replace(manifest, files=files))


def write_reduced(
    directory: Path,
    source: Path,
    model: onnx.ModelProto,
    manifest: artifact.Manifest,
    precision: str,
    keep_fp32: Collection[str] = (),
) -> onnx.ModelProto:
    """``model`` (its nodes named, see ``name_nodes``) reduced to ``precision`` with ``keep_fp32`` left in fp32,
    written to ``directory`` as an artifact with ``source``'s tokenizer and ``manifest`` marked at that
    precision (no fidelity measured yet); returns the reduced graph."""
    reduced = reduce_graph(model, precision, keep_fp32)
    write_artifact(directory, source, reduced, replace(manifest, extra={**manifest.extra, "precision": precision}))
    return reduced


def reduce_artifact(
    fp32_dir: Path,
    out_dir: Path,
    precision: str,
    texts: Sequence[Any],
    data_description: dict[str, Any],
    check: Callable[[Path, Sequence[str]], dict[str, bool]] | None = None,
    progress: Callable[[str], object] = lambda _: None,
) -> dict[str, MethodFidelity]:
    """Write the ``precision`` artifact of the fp32 artifact ``fp32_dir`` to ``out_dir``; returns each
    method's fidelity. ``texts`` are held-out ``EncodedText`` with gold labels; ``check(model_path,
    methods)`` (the export check against PyTorch, at the precision's tolerance) says per output whether it
    passed: logits failing is an error, a method failing is not recommended."""
    from onnxplain.runtime import Explainer

    if precision not in PRECISIONS[1:]:
        raise UserError(f"reduce to one of {', '.join(PRECISIONS[1:])}, not {precision!r}")
    if not texts:
        raise UserError("no held-out text of at least 20 tokens to measure fidelity on; pass a larger data file")
    manifest = artifact.read_manifest(fp32_dir)
    model = onnx.load(str(fp32_dir / artifact.MODEL_FILE))
    name_nodes(model)
    methods = list(manifest.methods)
    reference = Explainer.load(fp32_dir, cached_sessions=len(methods) + 1)
    keep: set[str] = set()
    kept_fp32: list[str] = []
    cache: dict[str, tuple] = {}
    with tempfile.TemporaryDirectory(prefix=".reduce-", dir=out_dir.parent) as scratch:
        candidate = Path(scratch) / "artifact"
        for attempt in range(2):
            reduced = write_reduced(candidate, fp32_dir, model, manifest, precision, keep)
            progress(f"{precision}: measuring fidelity on {len(texts)} held-out texts (pass {attempt + 1})")
            explainer = Explainer.load(candidate, cached_sessions=len(methods) + 1)
            fidelity = measure_fidelity(reference, explainer, texts, methods, reference_cache=cache)
            short = [m for m in methods if not fidelity[m].recommended]
            if not short or attempt == 1:
                break
            kept_fp32 = short
            keep = set().union(*(own_relevance_path(model, manifest.output_name(m)) for m in short))
            progress(f"{precision}: keeping the relevance path of {', '.join(short)} in fp32 and measuring again")
        passed = check(candidate / artifact.MODEL_FILE, methods) if check is not None else {}
        if passed and not passed.get(artifact.LOGITS, True):
            raise UserError(f"the {precision} graph's logits fail the check against PyTorch; keep fp32")
        fidelity = {m: replace(f, recommended=f.recommended and passed.get(m, True)) for m, f in fidelity.items()}
        entry = {
            "data": data_description,
            "thresholds": {"aopc_relative": AOPC_TOLERANCE, "spearman_median": MIN_MEDIAN_SPEARMAN},
            "methods": {
                m: {
                    **fidelity[m].to_json(),
                    "relevance_path": "fp32" if m in kept_fp32 else precision,
                    "check_against_pytorch": passed.get(m, True),
                }
                for m in methods
            },
        }
        final = replace(manifest, extra={**manifest.extra, "precision": precision, "fidelity": entry})
        write_artifact(candidate, fp32_dir, reduced, final)
        out_dir.mkdir(parents=True, exist_ok=True)
        for produced in candidate.iterdir():
            shutil.move(str(produced), out_dir / produced.name)
    return fidelity
