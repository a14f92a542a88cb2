"""ONNX Runtime's sequential and parallel executors on one method's pruned graph, timed interleaved.

    python benchmarks/executor_modes.py ARTIFACT --method mask-lrp [--batch 1] [--length 26] [--rounds 40]

``mask-lrp`` and ``transatt`` run two backward passes that do not depend on each other (the ordinary gradient
and Chefer's), so the parallel executor (``ExecutionMode.ORT_PARALLEL``), which runs independent nodes side by
side on its inter-op threads, could use a second core at batch 1, where one small product cannot keep two
intra-op threads busy. Candidates: sequential with 1 and 2 intra-op threads, parallel with 2 inter-op threads
and 1 or 2 intra-op threads; threads sleep between operators (no spinning), as the runtime's default. Every
candidate's output is checked against the first one's before timing.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from graph_profile import benchmark_feeds  # this folder: run as a script

from onnxplain.bench.timing import interleaved
from onnxplain.runtime.artifact import MODEL_FILE, read_manifest
from onnxplain.runtime.pruning import pruned_model

CANDIDATES = {  # name: (execution mode, intra-op threads, inter-op threads)
    "sequential, 1 intra-op thread": (ort.ExecutionMode.ORT_SEQUENTIAL, 1, 1),
    "sequential, 2 intra-op threads": (ort.ExecutionMode.ORT_SEQUENTIAL, 2, 1),
    "parallel, 2 inter-op x 1 intra-op": (ort.ExecutionMode.ORT_PARALLEL, 1, 2),
    "parallel, 2 inter-op x 2 intra-op": (ort.ExecutionMode.ORT_PARALLEL, 2, 2),
}


def session(path: Path, mode: ort.ExecutionMode, intra: int, inter: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.execution_mode = mode
    options.intra_op_num_threads = intra
    options.inter_op_num_threads = inter
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--method", default="mask-lrp")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--length", type=int, default=26)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()

    output = read_manifest(args.artifact).output_name(args.method)
    model = pruned_model(onnx.load(str(args.artifact / MODEL_FILE)), [output])
    feeds = benchmark_feeds(args.artifact, args.batch, args.length)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "pruned.onnx"
        onnx.save(model, str(path), save_as_external_data=True)
        sessions = {name: session(path, *settings) for name, settings in CANDIDATES.items()}
        used = {i.name for i in next(iter(sessions.values())).get_inputs()}
        chosen = {name: value for name, value in feeds.items() if name in used}
        results = {name: candidate.run([output], chosen)[0] for name, candidate in sessions.items()}
        reference = next(iter(results.values()))
        scale = float(np.abs(reference).max()) or 1.0
        for name, result in results.items():
            if not np.allclose(result, reference, rtol=0, atol=1e-5 * scale):
                raise SystemExit(f"{name}: {args.method} differs from the first candidate's")
        calls = {name: (lambda s=candidate: s.run([output], chosen)) for name, candidate in sessions.items()}
        timings = interleaved(calls, args.rounds, budget_s=120.0)
    print(f"{args.method}, batch {args.batch} x {args.length}, median of {args.rounds} interleaved calls")
    first = next(iter(timings.values())).median
    for name, timing in timings.items():
        print(f"  {name:36s} {1000 * timing.median:8.2f} ms  {first / timing.median:5.2f}x the first's speed")


if __name__ == "__main__":
    main()
