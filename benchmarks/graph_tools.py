"""Do ONNX graph tools pay on an explain graph? Writes copies of an artifact whose graph went through
onnxscript's optimizer, onnxscript's pattern rewriter and onnxslim, checks each against the original on one
batch, and times how long ONNX Runtime takes to build a session of each whole graph.

    python benchmarks/graph_tools.py ARTIFACT OUT [--tools onnxscript-optimize,onnxscript-rewrite,onnxslim]
    python benchmarks/compare_artifacts.py ARTIFACT OUT/onnxscript-optimize OUT/onnxscript-rewrite OUT/onnxslim \\
        --methods mask-lrp,cp-lrp,grad-input --shapes 1x26,32x32 --rounds 5 --threads 1

onnxscript comes with the export extra; onnxslim is not a dependency of onnxplain (``pip install onnxslim``),
and is left out when it is not installed. Each copy keeps the artifact's manifest, with its file record
of ``model.onnx`` made anew, so the runtime loads it as it loads the original.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from graph_profile import benchmark_feeds

from onnxplain.runtime.artifact import MANIFEST_FILE, MODEL_FILE
from onnxplain.runtime.artifact.files import record_files
from onnxplain.runtime.sessions import session_options


def onnxscript_optimize(model: onnx.ModelProto) -> onnx.ModelProto:
    import onnxscript.optimizer

    return onnxscript.optimizer.optimize(model)


def onnxscript_rewrite(model: onnx.ModelProto) -> onnx.ModelProto:
    import onnxscript.rewriter

    return onnxscript.rewriter.rewrite(model)


def onnxslim_slim(model: onnx.ModelProto) -> onnx.ModelProto:
    import onnxslim

    return onnxslim.slim(model)


TOOLS: dict[str, tuple[str, Callable[[onnx.ModelProto], onnx.ModelProto]]] = {
    "onnxscript-optimize": ("onnxscript", onnxscript_optimize),
    "onnxscript-rewrite": ("onnxscript", onnxscript_rewrite),
    "onnxslim": ("onnxslim", onnxslim_slim),
}


def write_copy(artifact: Path, target: Path, graph: onnx.ModelProto, metadata: list) -> None:
    """``artifact`` copied to ``target`` with ``graph`` as its model (metadata kept, file record renewed)."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(artifact, target)
    del graph.metadata_props[:]
    graph.metadata_props.extend(metadata)
    onnx.save(graph, str(target / MODEL_FILE))
    manifest = json.loads((target / MANIFEST_FILE).read_text(encoding="utf-8"))
    manifest["files"].update({name: r.to_json() for name, r in record_files(target, [MODEL_FILE]).items()})
    (target / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def session(path: Path) -> ort.InferenceSession:
    """A session of the whole graph with the runtime's options, on one thread."""
    return ort.InferenceSession(str(path / MODEL_FILE), session_options(1), providers=["CPUExecutionProvider"])


def outputs(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    run = session(path)
    wanted = {i.name for i in run.get_inputs()}
    values = run.run(None, {k: v for k, v in feeds.items() if k in wanted})
    return dict(zip([o.name for o in run.get_outputs()], values, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--builds", type=int, default=3, help="session builds per graph, interleaved")
    args = parser.parse_args()

    model = onnx.load(str(args.artifact / MODEL_FILE))
    metadata = list(model.metadata_props)
    args.out.mkdir(parents=True, exist_ok=True)
    copies: dict[str, Path] = {"original": args.artifact}
    for name in args.tools.split(","):
        package, tool = TOOLS[name]
        if importlib.util.find_spec(package) is None:
            print(f"{name}: {package} is not installed, left out")
            continue
        source = onnx.ModelProto()
        source.CopyFrom(model)
        start = time.perf_counter()
        graph = tool(source)
        took = time.perf_counter() - start
        print(f"{name}: {took:.0f} s, nodes {len(model.graph.node)} -> {len(graph.graph.node)}")
        write_copy(args.artifact, args.out / name, graph, metadata)
        copies[name] = args.out / name

    feeds = benchmark_feeds(args.artifact, 4, 23)
    reference = outputs(args.artifact, feeds)
    for name, path in copies.items():
        if name == "original":
            continue
        values = outputs(path, feeds)
        worst = max(
            float(np.abs(values[key] - value).max() / max(float(np.abs(value).max()), 1e-30))
            for key, value in reference.items()
        )
        print(f"{name}: largest difference over every output, relative to its scale: {worst:.1e}")

    builds: dict[str, list[float]] = {name: [] for name in copies}
    for _ in range(args.builds):
        for name, path in copies.items():
            start = time.perf_counter()
            session(path)
            builds[name].append(time.perf_counter() - start)
    for name, times in builds.items():
        print(f"session build of the whole graph, {name}: {statistics.median(times):.2f} s (median of {len(times)})")


if __name__ == "__main__":
    main()
