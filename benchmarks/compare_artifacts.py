"""Before and after a graph change: two artifacts of the same model and the standard forward, timed
interleaved in one process.

    python benchmarks/compare_artifacts.py BEFORE AFTER [--methods mask-lrp,attnlrp,cp-lrp] [--shapes 8x128,1x26]
        [--rounds 5] [--threads 1] [--no-standard]

Prints, per shape and method, each artifact's time as a multiple of the standard forward (the source checkpoint
exported with ``torch.onnx.export`` and optimised by ONNX Runtime, see ``onnxplain.bench.standard_forward``)
and of its own forward graph, and the speed-up of AFTER over BEFORE; every session runs once per round, in
turn, and medians are reported.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from onnxplain.bench.inputs import benchmark_batch
from onnxplain.bench.onnx_candidates import (
    FORWARD,
    STANDARD,
    load_explainer,
    onnx_candidates,
    standard_candidate,
    standard_session,
)
from onnxplain.bench.timing import interleaved
from onnxplain.runtime.artifact import read_manifest


def shapes(text: str) -> list[tuple[int, int]]:
    return [(int(b), int(t)) for b, t in (part.split("x") for part in text.split(",") if part)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--methods", default="mask-lrp,attnlrp,cp-lrp")
    parser.add_argument("--shapes", type=shapes, default=[(8, 128)], help="batch x length, e.g. 1x26,8x128")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-standard", action="store_true", help="skip the standard forward")
    args = parser.parse_args()

    methods = [m for m in args.methods.split(",") if m]
    explainers = {
        label: load_explainer(d, "cpu", args.threads, len(methods))
        for label, d in (("before", args.before), ("after", args.after))
    }
    standard = None
    if not args.no_standard:
        from onnxplain.bench.standard_forward import standard_forward

        manifest = read_manifest(args.after)
        built = standard_forward(manifest.source["model_dir"], manifest.precision)
        standard = standard_session(built.path, "cpu", args.threads)
    for batch_size, length in args.shapes:
        batch = benchmark_batch(args.before, batch_size, length)
        candidates = {}
        if standard is not None:
            candidates[("", STANDARD)] = standard_candidate(standard, batch)
        for label, explainer in explainers.items():
            for name, call in onnx_candidates(explainer, methods, batch).items():
                candidates[(label, name)] = call
        timings = interleaved(candidates, args.rounds, budget_s=1e9)
        reference = timings[("", STANDARD)].median if standard is not None else None
        print(
            f"batch {batch_size} x {length}, {args.threads} thread(s), median of {args.rounds} interleaved rounds"
            + (f"; standard forward {1000 * reference:.1f} ms" if reference else "")
        )
        print(
            f"  {'':<18}{'before ms':>10}{'x std':>7}{'x fwd':>7}{'after ms':>10}{'x std':>7}{'x fwd':>7}"
            f"{'speed-up':>10}"
        )
        for name in (FORWARD, *methods):
            before, after = timings[("before", name)].median, timings[("after", name)].median
            cells = []
            for label, value in (("before", before), ("after", after)):
                to_standard = f"{value / reference:>7.2f}" if reference else f"{'':>7}"
                cells.append(f"{1000 * value:>10.1f}{to_standard}{value / timings[(label, FORWARD)].median:>7.2f}")
            print(f"  {name:<18}{cells[0]}{cells[1]}{before / after:>9.2f}x")


if __name__ == "__main__":
    main()
