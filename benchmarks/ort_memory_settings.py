"""Peak resident memory and speed of ONNX Runtime's CPU memory settings on an explainer's mixed workload.

Each setting (arena on/off, memory patterns on/off, arena shrinkage after every call) runs in a fresh
process: two explain sessions (two methods, as a server keeps one per method), a round of calls at mixed
shapes (a long text alone, a few medium ones, many short ones), repeated; the first round builds the
sessions and is not timed. Printed per setting: resident memory once loaded, the peak, what is still held
after the last call (and after ``malloc_trim``), and tokens explained per second of wall time and of CPU time
(steadier on a shared machine), as medians over repeats run interleaved (each repeat visits every setting
once before the next begins), and each setting's speed per CPU second as a ratio to ONNX Runtime's defaults.

    python benchmarks/ort_memory_settings.py ARTIFACT [--methods mask-lrp attnlrp] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

SETTINGS = {
    "onnxruntime defaults (arena, memory pattern)": dict(cpu_arena=True, memory_pattern=True),
    "arena, memory pattern, shrinkage": dict(cpu_arena=True, memory_pattern=True, arena_shrinkage=True),
    "arena, no memory pattern": dict(cpu_arena=True, memory_pattern=False),
    "arena, no memory pattern, shrinkage": dict(cpu_arena=True, memory_pattern=False, arena_shrinkage=True),
    "no arena, memory pattern": dict(cpu_arena=False, memory_pattern=True),
    "no arena, no memory pattern": dict(cpu_arena=False, memory_pattern=False),
}
SHAPES = [(1, 512), (2, 256), (8, 64), (32, 16)]  # [batch, tokens]: one call each per method and round
MIB = 2**20


def child(artifact: Path, settings: dict[str, bool], methods: list[str], rounds: int) -> dict[str, float]:
    """One setting in this (fresh) process: what the parent prints for it."""
    import numpy as np

    from onnxplain.bench.inputs import benchmark_batch
    from onnxplain.runtime.artifact import HEAD_MASK, LOGITS, MODEL_FILE, TOKEN_TYPE_IDS, read_manifest
    from onnxplain.runtime.ort_memory import OrtMemorySettings
    from onnxplain.runtime.process_memory import peak_resident_bytes, resident_bytes, trim
    from onnxplain.runtime.sessions import SessionPool, choose_device

    manifest = read_manifest(artifact)
    pool = SessionPool(artifact / MODEL_FILE, choose_device("cpu"), memory=OrtMemorySettings(**settings))
    outputs = {method: [LOGITS, manifest.output_name(method)] for method in methods}
    default_mask = {HEAD_MASK: np.asarray(manifest.default_head_mask, dtype=np.float32)}
    batches = [benchmark_batch(artifact, batch, length) for batch, length in SHAPES]

    def call(method: str, batch: object) -> None:
        feeds = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}  # type: ignore[attr-defined]
        feeds["target"] = np.full(batch.input_ids.shape[0], -1, dtype=np.int64)  # type: ignore[attr-defined]
        if TOKEN_TYPE_IDS in manifest.inputs:
            feeds[TOKEN_TYPE_IDS] = np.zeros_like(feeds["input_ids"])
        pool.run(outputs[method], feeds, defaults=default_mask)

    for method in methods:
        pool.session(outputs[method])
    loaded = resident_bytes() or 0
    seconds = cpu_seconds = 0.0
    for number in range(rounds):
        start, cpu_start = time.perf_counter(), time.process_time()
        for batch in batches:
            for method in methods:
                call(method, batch)
        if number > 0:
            seconds += time.perf_counter() - start
            cpu_seconds += time.process_time() - cpu_start
    held = resident_bytes() or 0
    trim()
    tokens = (rounds - 1) * len(methods) * sum(b * t for b, t in SHAPES)
    return {
        "loaded_mib": loaded / MIB,
        "peak_mib": peak_resident_bytes() / MIB,
        "held_after_mib": held / MIB,
        "held_after_trim_mib": (resident_bytes() or 0) / MIB,
        "tokens_per_s": tokens / seconds,
        "tokens_per_cpu_s": tokens / cpu_seconds,
    }


def run_child(artifact: Path, name: str, methods: list[str], rounds: int) -> dict[str, float]:
    command = [sys.executable, __file__, str(artifact), "--child", name, "--rounds", str(rounds), "--methods"]
    finished = subprocess.run(command + methods, capture_output=True, text=True, env=os.environ.copy(), check=False)
    if finished.returncode != 0:
        raise SystemExit(f"{name} failed: {finished.stderr.strip()[-2000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--methods", nargs="+", default=["mask-lrp", "attnlrp"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of calls per process (the first untimed)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.artifact, SETTINGS[args.child], args.methods, args.rounds)))
        return

    from onnxplain.runtime.ort_memory import CHOSEN

    figures: dict[str, list[dict[str, float]]] = {name: [] for name in SETTINGS}
    for repeat in range(args.repeats):
        for name in SETTINGS:
            figures[name].append(run_child(args.artifact, name, args.methods, args.rounds))
            print(f"repeat {repeat + 1}/{args.repeats} {name}: {figures[name][-1]}", file=sys.stderr, flush=True)
    print(f"artifact {args.artifact}, methods {', '.join(args.methods)}, shapes [batch, tokens] {SHAPES}")
    print(f"{os.cpu_count()} CPU cores; medians of {args.repeats} interleaved repeats; chosen: {asdict(CHOSEN)}")
    columns = ("loaded", "peak", "held", "trimmed", "tokens/s", "per CPU s", "speed")
    header = f"{'setting':<46} " + " ".join(f"{c:>{6 if c == 'speed' else 8 if len(c) < 9 else 9}}" for c in columns)
    print(header + "\n" + "-" * len(header))
    baseline = statistics.median(f["tokens_per_cpu_s"] for f in figures[next(iter(SETTINGS))])
    for name, runs in figures.items():
        median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        print(
            f"{name:<46} {median['loaded_mib']:>7.0f}M {median['peak_mib']:>7.0f}M {median['held_after_mib']:>7.0f}M "
            f"{median['held_after_trim_mib']:>7.0f}M {median['tokens_per_s']:>9.0f} "
            f"{median['tokens_per_cpu_s']:>9.0f} {median['tokens_per_cpu_s'] / baseline:>6.2f}"
        )


if __name__ == "__main__":
    main()
