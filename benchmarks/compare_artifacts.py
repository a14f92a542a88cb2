"""Before and after a graph change: two artifacts of the same model, timed interleaved in one process.

    python benchmarks/compare_artifacts.py BEFORE AFTER [--methods mask-lrp,attnlrp,cp-lrp] [--batch 8]
        [--length 128] [--rounds 5] [--threads 1]

Prints, per method, each artifact's explain-graph time as a multiple of its own forward graph and the
speed-up of AFTER over BEFORE; every session runs once per round, in turn, and medians are reported.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from onnxplain.bench.inputs import benchmark_batch
from onnxplain.bench.onnx_candidates import FORWARD, load_explainer, onnx_candidates
from onnxplain.bench.timing import interleaved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--methods", default="mask-lrp,attnlrp,cp-lrp")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    methods = args.methods.split(",")
    batch = benchmark_batch(args.before, args.batch, args.length)
    candidates = {}
    for label, directory in (("before", args.before), ("after", args.after)):
        explainer = load_explainer(directory, "cpu", args.threads, len(methods))
        for name, call in onnx_candidates(explainer, methods, batch).items():
            candidates[(label, name)] = call
    timings = interleaved(candidates, args.rounds, budget_s=1e9)
    print(f"batch {args.batch} x {args.length}, {args.threads} thread(s), median of {args.rounds} interleaved rounds")
    print(f"  {'':<12}{'before ms':>11}{'x fwd':>8}{'after ms':>11}{'x fwd':>8}{'speed-up':>10}")
    for name in (FORWARD, *methods):
        before, after = timings[("before", name)].median, timings[("after", name)].median
        ratio_before = before / timings[("before", FORWARD)].median
        ratio_after = after / timings[("after", FORWARD)].median
        print(
            f"  {name:<12}{1000 * before:>11.1f}{ratio_before:>8.2f}{1000 * after:>11.1f}{ratio_after:>8.2f}"
            f"{before / after:>9.2f}x"
        )


if __name__ == "__main__":
    main()
