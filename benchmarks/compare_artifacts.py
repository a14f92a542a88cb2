"""Artifacts of the same model and the standard forward, timed interleaved in one process: where a graph stands
against what a team that only wants predictions deploys, and before and after a graph change.

    python benchmarks/compare_artifacts.py ARTIFACT [ARTIFACT ...] [--methods mask-lrp,attnlrp,cp-lrp]
        [--shapes 8x128,1x26] [--rounds 5] [--threads 1] [--no-standard] [--json OUT]

Prints, per shape, artifact and method, the median time, its multiple of the standard forward of the artifact's
precision (the source checkpoint exported with ``torch.onnx.export`` and optimised by ONNX Runtime, int8 by its
dynamic quantisation, see ``onnxplain.bench.standard_forward``) and of the artifact's own forward graph; with
two artifacts (BEFORE AFTER), the speed-up of the second over the first. Every session (each artifact's forward
graph and explain graphs, one standard forward per precision among the artifacts) runs once per round, in turn;
medians are reported. A method an artifact does not have is left out for that artifact.
"""

from __future__ import annotations

import argparse
import json
import os
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
    parser.add_argument("artifacts", type=Path, nargs="+")
    parser.add_argument("--methods", default="mask-lrp,attnlrp,cp-lrp")
    parser.add_argument("--shapes", type=shapes, default=[(8, 128)], help="batch x length, e.g. 1x26,8x128")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-standard", action="store_true", help="skip the standard forward")
    parser.add_argument("--json", type=Path, help="write every timing (all rounds) here")
    args = parser.parse_args()

    wanted = [m for m in args.methods.split(",") if m]
    labels = [f"{index}:{path.name}" for index, path in enumerate(args.artifacts)]
    manifests = {label: read_manifest(path) for label, path in zip(labels, args.artifacts, strict=True)}
    methods = {label: [m for m in wanted if m in manifest.methods] for label, manifest in manifests.items()}
    explainers = {
        label: load_explainer(path, "cpu", args.threads, len(methods[label]))
        for label, path in zip(labels, args.artifacts, strict=True)
    }
    standards = {}
    if not args.no_standard:
        from onnxplain.bench.standard_forward import standard_forward

        for manifest in manifests.values():
            if manifest.precision not in standards:
                built = standard_forward(manifest.source["model_dir"], manifest.precision)
                standards[manifest.precision] = standard_session(built.path, "cpu", args.threads)
    for label, path in zip(labels, args.artifacts, strict=True):
        print(f"{label} = {path} ({manifests[label].precision})")
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    record = []
    for batch_size, length in args.shapes:
        batch = benchmark_batch(args.artifacts[0], batch_size, length)
        candidates = {(f"standard {p}", STANDARD): standard_candidate(s, batch) for p, s in standards.items()}
        for label, explainer in explainers.items():
            for name, call in onnx_candidates(explainer, methods[label], batch).items():
                candidates[(label, name)] = call
        timings = interleaved(candidates, args.rounds, budget_s=1e9)
        print(
            f"batch {batch_size} x {length}, {args.threads} thread(s), median of {args.rounds} interleaved rounds; "
            f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
        )
        for precision in standards:
            standard_ms = 1000 * timings[(f"standard {precision}", STANDARD)].median
            print(f"  standard forward {precision}: {standard_ms:.1f} ms")
        print(f"  {'artifact':<28}{'graph':<20}{'ms':>9}{'x std':>8}{'x fwd':>8}")
        for label in labels:
            reference = timings.get((f"standard {manifests[label].precision}", STANDARD))
            forward = timings[(label, FORWARD)].median
            for name in (FORWARD, *methods[label]):
                value = timings[(label, name)].median
                to_standard = f"{value / reference.median:>8.2f}" if reference else f"{'':>8}"
                print(f"  {label:<28}{name:<20}{1000 * value:>9.1f}{to_standard}{value / forward:>8.2f}")
        if len(labels) == 2:
            before, after = labels
            for name in (FORWARD, *methods[before]):
                if (after, name) in timings:
                    speed_up = timings[(before, name)].median / timings[(after, name)].median
                    print(f"  speed-up of {after} over {before}, {name}: {speed_up:.2f}x")
        record.append(
            {
                "batch": batch_size,
                "length": length,
                "load_average": os.getloadavg(),
                "timings": {f"{label}/{name}": t.to_json() for (label, name), t in timings.items()},
            }
        )
    if args.json:
        args.json.write_text(json.dumps({"artifacts": [str(p) for p in args.artifacts], "shapes": record}, indent=1))


if __name__ == "__main__":
    main()
