"""Paired bootstrap advantage of one method over others from an ``onnxplain evaluate`` run's ``curves.npz``
(the report itself compares every method with Mask-LRP): AOPC(method) - AOPC(other) and
LOdds(other) - LOdds(method), on the same resampled texts (positive: ``method`` is more faithful). Several
``curves.npz`` of runs on disjoint parts of one data set (same methods) are pooled text by text.

    python benchmarks/paired_advantage.py cp-lrp-lookahead artifacts/mpnet-sentiment/evaluation/curves.npz
"""

from __future__ import annotations

import argparse

import numpy as np

from onnxplain.evaluation.metrics import aopc, bootstrap_estimate, bootstrap_indices, log_odds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("method")
    parser.add_argument("curves", nargs="+", help="curves.npz written by onnxplain evaluate")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    runs = [np.load(path) for path in args.curves]
    methods = [k.split("/", 1)[1] for k in runs[0] if k.startswith("deletion/")]
    p0 = np.concatenate([run["p0"] for run in runs])
    deleted = {m: np.concatenate([run[f"deletion/{m}"] for run in runs]) for m in methods}
    scores = {m: (aopc(p0, deleted[m]), log_odds(p0, deleted[m])) for m in methods}
    indices = bootstrap_indices(len(p0), args.bootstrap, args.seed)
    mine_aopc, mine_log_odds = scores[args.method]
    print(f"{len(p0)} texts; {args.method} against each method (paired, 95% bootstrap):")
    print("| method | AOPC | LOdds | AOPC gain | LOdds gain |")
    print("|---|---|---|---|---|")
    for other in methods:
        other_aopc, other_log_odds = scores[other]
        a, lo = bootstrap_estimate(other_aopc, indices), bootstrap_estimate(other_log_odds, indices)
        cells = [f"{e.mean:.3f} [{e.low:.3f}, {e.high:.3f}]" for e in (a, lo)]
        if other != args.method:
            gain = bootstrap_estimate(mine_aopc - other_aopc, indices)
            drop = bootstrap_estimate(other_log_odds - mine_log_odds, indices)
            cells += [
                f"{gain.mean:+.3f} [{gain.low:+.3f}, {gain.high:+.3f}] ({gain.mean / abs(a.mean):+.1%})",
                f"{drop.mean:+.3f} [{drop.low:+.3f}, {drop.high:+.3f}] ({drop.mean / abs(lo.mean):+.1%})",
            ]
        else:
            cells += ["—", "—"]
        print(f"| {other} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
