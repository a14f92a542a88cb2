"""Peak memory of one explain or forward call, measured in a fresh process per (outputs, shape).

ONNX Runtime's CPU arena keeps what it allocated, so memory can only be told apart per graph and shape in a
process that has run nothing else. The probe builds the pruned session, notes its resident memory, runs one
call and reads the most resident memory reached (``process_memory.watch``: the kernel's high-water mark,
sampled where the kernel ignores its reset): the difference is what the call itself needed (activations,
workspace), weights excluded.

    python -m onnxplain.bench.memory ARTIFACT --method attnlrp --batch 8 --length 128
    python -m onnxplain.bench.memory ARTIFACT --standard --batch 8 --length 512   # the standard forward
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from onnxplain.runtime.process_memory import resident_bytes, watch


@dataclass(frozen=True)
class CallMemory:
    """Bytes: resident memory once the session is built, and the most the call added to it."""

    loaded_bytes: int
    call_peak_bytes: int


def measure_call(warm_up: Callable[[], object], call: Callable[[], object]) -> dict:
    """Run ``warm_up`` (which builds the session), then the resident memory before ``call`` and the most it added."""
    warm_up()
    loaded = resident_bytes() or 0
    watched = watch(call)
    return {
        "loaded_bytes": loaded,
        "call_peak_bytes": max(0, (watched.peak_bytes or 0) - loaded),
        "exact": watched.exact,
    }


def probe(artifact_dir: Path, method: str | None, batch: int, length: int, device: str, threads: int | None) -> dict:
    from onnxplain.bench.inputs import benchmark_batch
    from onnxplain.bench.onnx_candidates import load_explainer

    explainer = load_explainer(artifact_dir, device, threads)
    methods = () if method is None else (method,)
    data = benchmark_batch(artifact_dir, batch, length)
    tiny = benchmark_batch(artifact_dir, 1, 8)
    return measure_call(
        lambda: explainer.run(tiny.input_ids, tiny.attention_mask, methods=methods),
        lambda: explainer.run(data.input_ids, data.attention_mask, methods=methods),
    )


def probe_standard(artifact_dir: Path, batch: int, length: int, device: str, threads: int | None) -> dict:
    """The same probe for the standard forward of the artifact's source checkpoint and precision (built and
    cached by ``standard_forward`` if it is not yet)."""
    from onnxplain.bench.inputs import benchmark_batch
    from onnxplain.bench.onnx_candidates import standard_candidate, standard_session
    from onnxplain.bench.standard_forward import standard_forward
    from onnxplain.runtime.artifact import read_manifest

    manifest = read_manifest(artifact_dir)
    built = standard_forward(manifest.source["model_dir"], manifest.precision, progress=lambda _: None)
    session = standard_session(built.path, device, threads)
    return measure_call(
        standard_candidate(session, benchmark_batch(artifact_dir, 1, 8)),
        standard_candidate(session, benchmark_batch(artifact_dir, batch, length)),
    )


def measure(
    artifact_dir: Path, method: str | None, batch: int, length: int, device: str, threads: int | None
) -> CallMemory:
    """Run the probe in a child process and read its answer."""
    command = [sys.executable, "-m", "onnxplain.bench.memory", str(artifact_dir), "--batch", str(batch)]
    command += ["--length", str(length), "--device", device]
    if method is not None:
        command += ["--method", method]
    if threads:
        command += ["--threads", str(threads)]
    finished = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy(), check=False)
    if finished.returncode != 0:
        raise RuntimeError(f"memory probe failed: {finished.stderr.strip().splitlines()[-1:]}")
    answer = json.loads(finished.stdout.strip().splitlines()[-1])
    return CallMemory(answer["loaded_bytes"], answer["call_peak_bytes"])


def main() -> None:
    parser = argparse.ArgumentParser(description="peak memory of one call of an artifact's pruned session")
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--method", help="explain graph of this method (default: the forward graph)")
    parser.add_argument("--standard", action="store_true", help="the standard forward instead of the artifact")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if args.standard:
        print(json.dumps(probe_standard(args.artifact, args.batch, args.length, args.device, args.threads)))
    else:
        print(json.dumps(probe(args.artifact, args.method, args.batch, args.length, args.device, args.threads)))


if __name__ == "__main__":
    main()
