"""Per-explanation time of the artifact's methods on the first N held-out sentences, measured the way the
Mask-LRP authors' code was (issue 18, goal 4): every sentence explained once at batch 1 (no padding), then
the same sentences at batch 32 (``Explainer.explain`` groups texts of similar length and pads each group to its
longest), text in and relevance out (tokenisation included), methods interleaved, the median of ``--rounds``
runs of the whole set. Prints milliseconds per explanation and the ratio to the authors' figure, which was measured
on this machine on another day (their harness is not in this repository), and the processor time this process
used per explanation (all its threads): on a machine shared with other jobs, wall time counts the time the
others held the cores, processor time does not.

    python benchmarks/authors_comparison.py ~/.cache/onnxplain/models/minilm-sentiment/artifact \
        --data ~/.cache/onnxplain/models/minilm-sentiment/heldout.csv --methods mask-lrp,cp-lrp,cp-lrp-lookahead
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from onnxplain.runtime import Explainer  # noqa: E402
from onnxplain.runtime.tokenization import TextTokenizer  # noqa: E402

AUTHORS_MS = 157.0  # the authors' MGAE on the same 300 sentences, batch 1 only (their code), issue 18


def read_texts(path: Path, limit: int) -> list[str]:
    with path.open(encoding="utf-8") as handle:
        return [row["text"] for row in csv.DictReader(handle)][:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--data", type=Path, required=True, help="held-out CSV with a text column")
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--methods", default="mask-lrp,cp-lrp,cp-lrp-lookahead")
    parser.add_argument("--batch-sizes", default="1,32")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--spinning", action="store_true", help="intra-op threads spin between operators (Explainer.load's option)"
    )
    args = parser.parse_args()

    methods = [m for m in args.methods.split(",") if m]
    texts = read_texts(args.data, args.limit)
    results: dict[str, dict[str, float]] = {}
    for size in (int(b) for b in args.batch_sizes.split(",")):
        explainer = Explainer.load(
            args.artifact,
            batch_size=size,
            intra_op_threads=args.threads,
            cached_sessions=len(methods),
            intra_op_spinning=args.spinning,
        )
        if not results:
            tokenizer = TextTokenizer(args.artifact / "tokenizer.json", explainer.manifest.max_length)
            lengths = [len(encoding) for encoding in tokenizer.encode(texts)]
            print(
                f"{len(texts)} sentences, median {statistics.median(lengths):.0f} tokens, {args.threads} threads"
                f"{' spinning' if args.spinning else ''}, "
                f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
            )
        for method in methods:
            explainer.explain(texts[:size], method)  # builds the session outside the timing
        totals: dict[str, list[float]] = {m: [] for m in methods}
        processor: dict[str, list[float]] = {m: [] for m in methods}
        for _ in range(args.rounds):
            for method in methods:
                started, started_cpu = time.perf_counter(), time.process_time()
                explainer.explain(texts, method)
                totals[method].append(time.perf_counter() - started)
                processor[method].append(time.process_time() - started_cpu)
        print(f"batch {size}:")
        for method in methods:
            per_explanation = 1000 * statistics.median(totals[method]) / len(texts)
            cpu_per_explanation = 1000 * statistics.median(processor[method]) / len(texts)
            results.setdefault(method, {})[f"batch_{size}_ms"] = per_explanation
            results[method][f"batch_{size}_cpu_ms"] = cpu_per_explanation
            print(
                f"  {method:18s} {per_explanation:7.2f} ms per explanation  "
                f"{AUTHORS_MS / per_explanation:5.1f}x faster than the authors' {AUTHORS_MS:.0f} ms (batch 1); "
                f"processor time {cpu_per_explanation:.2f} ms ({AUTHORS_MS / cpu_per_explanation:.1f}x)"
            )
    if args.json:
        args.json.write_text(json.dumps({"authors_ms": AUTHORS_MS, "methods": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
