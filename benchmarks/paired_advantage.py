"""Paired bootstrap advantage of one method over every other from ``onnxplain evaluate``'s ``curves.npz``
(its report compares every method with Mask-LRP): AOPC(method) - AOPC(other) and LOdds(other) -
LOdds(method), on the same resampled texts (positive: ``method`` is more faithful). Several ``curves.npz``
of runs on disjoint parts of one data set (same methods) are pooled text by text.

    python benchmarks/paired_advantage.py cp-lrp-lookahead artifacts/mpnet-sentiment/evaluation/curves.npz
"""

from __future__ import annotations

import argparse

from onnxplain.evaluation.faithfulness import Curves
from onnxplain.evaluation.metrics import Estimate
from onnxplain.evaluation.scores import score_curves


def interval(estimate: Estimate, signed: bool = False) -> str:
    number = "{:+.3f}" if signed else "{:.3f}"
    return f"{number} [{number}, {number}]".format(estimate.mean, estimate.low, estimate.high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("method")
    parser.add_argument("curves", nargs="+", help="curves.npz written by onnxplain evaluate")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    curves = Curves.load(*args.curves)
    # with the method as the reference, each row's "advantage" is the method's gain over that row
    scores = score_curves(curves, reference=args.method, resamples=args.bootstrap, seed=args.seed)
    print(f"{len(curves.p0)} texts; {args.method} against each method (paired, 95% bootstrap):")
    print("| method | AOPC | LOdds | AOPC gain | LOdds gain |")
    print("|---|---|---|---|---|")
    for row in scores:
        cells = [interval(row.aopc), interval(row.log_odds)]
        for gain, value in ((row.aopc_advantage, row.aopc), (row.log_odds_advantage, row.log_odds)):
            cells.append("—" if gain is None else f"{interval(gain, signed=True)} ({gain.mean / abs(value.mean):+.1%})")
        print(f"| {row.name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
