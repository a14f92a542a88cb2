"""Where an explain graph spends its time: node counts before and after ONNX Runtime's optimiser, and ONNX
Runtime's own profile (time per operator type) of one method's pruned graph against the forward graph.

    python benchmarks/graph_profile.py ARTIFACT --method attnlrp [--batch 8] [--length 128] [--calls 5]

Prints, for ``logits`` alone and for ``logits`` + the method: matrix products (MatMul, Gemm, FusedMatMul) and
all nodes, as exported and as optimised, and the operator types that take the most time.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from onnxplain.bench.inputs import benchmark_batch
from onnxplain.runtime.artifact import HEAD_MASK, LOGITS, MODEL_FILE, TARGET, TOKEN_TYPE_IDS, read_manifest
from onnxplain.runtime.pruning import pruned_model

MATRIX_PRODUCTS = ("MatMul", "Gemm", "FusedMatMul", "MatMulInteger", "QAttention", "Attention")


def benchmark_feeds(artifact: Path, batch: int, length: int) -> dict[str, np.ndarray]:
    """Every input an explain graph may take, for ``batch`` real texts of ``length`` tokens (the predicted
    class, the artifact's default head mask); a session takes the ones its pruned graph reads."""
    texts = benchmark_batch(artifact, batch, length)
    return {
        "input_ids": texts.input_ids,
        "attention_mask": texts.attention_mask,
        TARGET: np.full(batch, -1, dtype=np.int64),
        TOKEN_TYPE_IDS: np.zeros_like(texts.input_ids),
        HEAD_MASK: np.asarray(read_manifest(artifact).default_head_mask, dtype=np.float32),
    }


def node_counts(model: onnx.ModelProto) -> Counter[str]:
    return Counter(node.op_type for node in model.graph.node)


def profile(path: Path, feeds: dict[str, np.ndarray], calls: int, threads: int | None) -> tuple[dict, Counter]:
    """Optimised node counts and microseconds per operator type over ``calls`` calls (after one warm-up)."""
    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
    options.optimized_model_filepath = str(path.with_suffix(".optimised.onnx"))
    options.enable_profiling = True
    options.profile_file_prefix = str(path.with_suffix(""))
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}
    chosen = {k: v for k, v in feeds.items() if k in wanted}
    session.run(None, chosen)
    for _ in range(calls):
        session.run(None, chosen)
    events = json.loads(Path(session.end_profiling()).read_text())
    per_op: dict[str, float] = defaultdict(float)
    runs = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    for event in runs[len(runs) // (calls + 1) :]:  # drop the warm-up call's share
        per_op[event["args"]["op_name"]] += event["dur"] / calls
    optimised = onnx.load(str(path.with_suffix(".optimised.onnx")), load_external_data=False)
    return per_op, node_counts(optimised)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--method", default="attnlrp")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()

    manifest = read_manifest(args.artifact)
    model = onnx.load(str(args.artifact / MODEL_FILE))
    feeds = benchmark_feeds(args.artifact, args.batch, args.length)

    with tempfile.TemporaryDirectory() as scratch:
        results = {}
        for label, outputs in (("forward", [LOGITS]), (args.method, [LOGITS, manifest.output_name(args.method)])):
            graph = pruned_model(model, outputs)
            path = Path(scratch) / f"{label}.onnx"
            onnx.save(graph, str(path))
            per_op, optimised = profile(path, feeds, args.calls, args.threads)
            results[label] = (node_counts(graph), optimised, per_op)

    forward_total = sum(results["forward"][2].values())
    for label, (exported, optimised, per_op) in results.items():
        total = sum(per_op.values())
        products = sum(exported[op] for op in MATRIX_PRODUCTS), sum(optimised[op] for op in MATRIX_PRODUCTS)
        print(
            f"{label}: {sum(exported.values())} nodes exported, {sum(optimised.values())} optimised; "
            f"matrix products {products[0]} -> {products[1]}; kernel time {total / 1000:.1f} ms "
            f"({total / forward_total:.2f}x forward)"
        )
        for op, micros in sorted(per_op.items(), key=lambda item: -item[1])[: args.top]:
            print(f"    {op:<24} {micros / 1000:8.2f} ms  {100 * micros / total:5.1f}%  ({optimised[op]} nodes)")


if __name__ == "__main__":
    main()
