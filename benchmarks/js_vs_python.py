"""Per-explanation time of the JavaScript client (Node, onnxruntime-node) against the Python runtime, on the
same artifact and the same texts, at batch 1 and batch 32; rounds interleaved (Python, Node, Python, ...),
medians and the Node/Python ratio of one run. Also what output pruning saves in Node: one call on the
whole graph (every output) against one on the method's pruned graph.

    python benchmarks/js_vs_python.py ~/.cache/onnxplain/models/minilm-sentiment [--rounds 5] [--texts 32]

Needs `npm ci && npm run build` in clients/js first (with ONNXRUNTIME_NODE_INSTALL=skip).
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import time
from pathlib import Path

from json_lines_worker import JsonLinesWorker

from onnxplain.runtime import Explainer

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
WORKER = Path(__file__).resolve().parents[1] / "clients" / "js" / "bench" / "explain-worker.mjs"
METHODS = ("mask-lrp", "cp-lrp")
BATCHES = (1, 32)


def node_worker(artifact: Path, threads: int | None) -> JsonLinesWorker:
    """The Node side, one process for the whole run (artifact loaded and sessions built once)."""
    command = ["node", str(WORKER), str(artifact)] + ([str(threads)] if threads else [])
    return JsonLinesWorker(command, "Node worker (is clients/js built: npm ci && npm run build?)")


def python_seconds(explainer: Explainer, texts: list[str], method: str, batch: int) -> float:
    started = time.perf_counter()
    for first in range(0, len(texts), batch):
        explainer.explain(texts[first : first + batch], method=method)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("build", type=Path, help="a build's output folder (artifact/, heldout.csv)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--texts", type=int, default=32)
    parser.add_argument("--threads", type=int, help="intra-op threads on both sides (default: ONNX Runtime's)")
    args = parser.parse_args()
    artifact = args.build / "artifact"
    with (args.build / "heldout.csv").open(encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)][: args.texts]
    explainer = Explainer.load(artifact, batch_size=max(BATCHES), intra_op_threads=args.threads, cached_sessions=8)
    node = node_worker(artifact, args.threads)
    try:
        for method in METHODS:  # warm up: sessions built, first calls done, on both sides
            python_seconds(explainer, texts[:2], method, 1)
            node.ask({"texts": texts[:2], "method": method, "batch": 1})
        times: dict[tuple[str, str, int], list[float]] = {}
        for _ in range(args.rounds):
            for method in METHODS:
                for batch in BATCHES:
                    times.setdefault(("python", method, batch), []).append(
                        python_seconds(explainer, texts, method, batch)
                    )
                    answer = node.ask({"texts": texts, "method": method, "batch": batch})
                    times.setdefault(("node", method, batch), []).append(answer["seconds"])
        pruning: dict[str, list[float]] = {"whole": [], "pruned": []}
        for _ in range(args.rounds):
            answer = node.ask({"texts": texts, "method": METHODS[0], "unpruned": True})
            pruning["whole"].append(answer["seconds"])
            pruning["pruned"].append(answer["pruned_seconds"])
    finally:
        node.close()
    print(
        f"{len(texts)} held-out sentences of {args.build.name}, {args.rounds} interleaved rounds, medians, "
        f"ms per explanation (threads: {args.threads or 'default'})"
    )
    print(f"{'method':<10} {'batch':>5} {'python':>9} {'node':>9} {'node/python':>12}")
    for method in METHODS:
        for batch in BATCHES:
            python = statistics.median(times[("python", method, batch)]) / len(texts) * 1000
            js = statistics.median(times[("node", method, batch)]) / len(texts) * 1000
            print(f"{method:<10} {batch:>5} {python:>9.2f} {js:>9.2f} {js / python:>12.2f}")
    whole, pruned = (statistics.median(pruning[k]) / len(texts) * 1000 for k in ("whole", "pruned"))
    print(
        f"node, one call of {len(texts)}: whole graph (all outputs) {whole:.2f} ms per explanation, "
        f"{METHODS[0]}'s pruned graph {pruned:.2f} ms ({whole / pruned:.1f}x)"
    )


if __name__ == "__main__":
    main()
