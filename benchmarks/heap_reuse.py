"""What keeping freed C heap for the next call (``process_memory.reuse_freed_heap``) saves, through the
explainer as users call it (the default memory budget, or ``--budget unlimited``).

Each setting (freed heap kept: today's runtime; not kept: glibc's defaults, every large block a fresh
``mmap``) runs in a fresh process, the processes alternating, ``--repeats`` of each. A process loads the
artifact, then per shape and method runs one warm-up call and ``--calls`` timed ones. Printed per shape and
method: the median over processes of each process's median call, the ratio kept / not kept, and per setting
the processor time in user and kernel mode (page faults are kernel time) and the peak resident memory.

    python benchmarks/heap_reuse.py ARTIFACT [--methods mask-lrp,cp-lrp] [--shapes 1x26,8x128,32x32]
        [--budget unlimited] [--repeats 3] [--calls 4] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from compare_artifacts import shapes as parse_shapes  # this folder: run as a script

SETTINGS = ("kept", "not kept")


def child(artifact: Path, setting: str, methods: list[str], shapes: list[tuple[int, int]], args: dict) -> dict:
    import numpy as np

    from onnxplain.bench.inputs import benchmark_batch
    from onnxplain.runtime import Explainer, process_memory

    if setting == "not kept":  # the runtime asks for it when its first session is built; glibc's defaults stay
        process_memory.reuse_freed_heap = lambda: False  # type: ignore[assignment]
    explainer = Explainer.load(
        artifact, intra_op_threads=args["threads"], memory_budget=args["budget"], cached_sessions=len(methods) + 2
    )
    times = {}
    for batch, tokens in shapes:
        inputs = benchmark_batch(artifact, batch, tokens)
        for method in methods:
            explainer.run(inputs.input_ids, inputs.attention_mask, (method,))
            calls = []
            for _ in range(args["calls"]):
                start = time.perf_counter()
                explainer.run(inputs.input_ids, inputs.attention_mask, (method,))
                calls.append(time.perf_counter() - start)
            times[f"{batch}x{tokens} {method}"] = float(np.median(calls))
    used = os.times()
    return {"times": times, "user": used.user, "kernel": used.system, "peak": process_memory.process_peak_bytes()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--methods", default="mask-lrp,cp-lrp")
    parser.add_argument("--shapes", default="1x26,8x128,32x32")
    parser.add_argument("--budget", default=None, help="a memory budget; default: the runtime's default")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    shapes = parse_shapes(args.shapes)
    options = {"threads": args.threads, "budget": args.budget, "calls": args.calls}
    if args.child:
        print(json.dumps(child(args.artifact, args.child, methods, shapes, options)))
        return

    environment = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    runs: dict[str, list[dict]] = {s: [] for s in SETTINGS}
    for _ in range(args.repeats):
        for setting in SETTINGS:
            command = [sys.executable, __file__, str(args.artifact), "--child", setting, "--methods", args.methods]
            command += ["--shapes", args.shapes, "--calls", str(args.calls), "--threads", str(args.threads)]
            command += ["--budget", args.budget] if args.budget else []
            output = subprocess.run(command, check=True, capture_output=True, text=True, env=environment).stdout
            runs[setting].append(json.loads(output.strip().splitlines()[-1]))

    print(f"budget {args.budget or 'default'}, {args.threads} thread(s), {args.repeats} processes per setting")
    print(f"  {'shape and method':<22} {'kept ms':>9} {'not kept ms':>12} {'kept / not':>11}")
    for key in runs["kept"][0]["times"]:
        kept, plain = (statistics.median(r["times"][key] for r in runs[s]) * 1000 for s in SETTINGS)
        print(f"  {key:<22} {kept:9.1f} {plain:12.1f} {kept / plain:11.2f}")
    for setting in SETTINGS:
        user = statistics.median(r["user"] for r in runs[setting])
        kernel = statistics.median(r["kernel"] for r in runs[setting])
        peak = statistics.median(r["peak"] for r in runs[setting]) / 2**20
        print(f"  {setting:<9} processor s: {user:6.1f} user, {kernel:5.1f} kernel; peak {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
