"""Per-explanation time in a browser (headless Chromium, onnxruntime-web's WASM backend) against the Python runtime
(native ONNX Runtime), the same number of threads on both sides (`--threads`, default 1), for one or more
artifacts (an fp32 artifact and its int8 copy, say) on the same held-out texts; browser and Python rounds
interleaved, medians of the rounds, and every time also as a multiple of the first artifact's. The integer
products run on onnxruntime-web's own WASM kernels, not VNNI's, so the int8 figures are also the int8 graph away
from VNNI.

    python benchmarks/browser_speed.py ARTIFACT [ARTIFACT ...] --data heldout.csv [--texts 16] [--rounds 5]
        [--methods mask-lrp,cp-lrp] [--batches 1,8] [--threads 1]

Needs `make js-build` (clients/js/dist-web) and Debian's chromium (`apt-get install -y chromium`). The page and
the artifacts are served on 127.0.0.1 only, cross-origin isolated (so that WASM may use threads); the browser runs
with its network features off (scripts/chromium.mjs).
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import time
from pathlib import Path

from json_lines_worker import JsonLinesWorker

from onnxplain.runtime import Explainer

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
JS = Path(__file__).resolve().parents[1] / "clients" / "js"
WORKER = JS / "bench" / "browser-worker.mjs"


def browser_worker(run: dict) -> tuple[JsonLinesWorker, bool]:
    """Chromium with every artifact of ``run`` loaded in one page, for the whole run; and whether the page is
    cross-origin isolated (answered once every artifact is loaded and warmed up)."""
    if not (JS / "dist-web" / "page.js").is_file():
        raise SystemExit("clients/js/dist-web is missing; run make js-build")
    worker = JsonLinesWorker(["node", str(WORKER)], "browser worker (is chromium installed and clients/js built?)")
    return worker, worker.ask(run)["isolated"]


def python_round(explainers: list[Explainer], texts: list[str], methods: list[str], batches: list[int]) -> dict:
    """Seconds per explanation: {artifact index: {method: {batch: s}}}, as the browser worker answers."""
    seconds: dict[str, dict[str, dict[str, float]]] = {}
    for index, explainer in enumerate(explainers):
        seconds[str(index)] = {method: {} for method in methods}
        for method in methods:
            for batch in batches:
                started = time.perf_counter()
                for first in range(0, len(texts), batch):
                    explainer.explain(texts[first : first + batch], method=method)
                seconds[str(index)][method][str(batch)] = (time.perf_counter() - started) / len(texts)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("artifacts", type=Path, nargs="+")
    parser.add_argument("--data", type=Path, required=True, help="CSV with a text column (a build's heldout.csv)")
    parser.add_argument("--texts", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--methods", default="mask-lrp,cp-lrp")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads, Python and browser (WASM) alike")
    args = parser.parse_args()
    methods, batches = args.methods.split(","), [int(b) for b in args.batches.split(",")]
    with args.data.open(encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)][: args.texts]

    explainers = [
        Explainer.load(path, batch_size=max(batches), intra_op_threads=args.threads, cached_sessions=8)
        for path in args.artifacts
    ]
    python_round(explainers, texts[: max(batches)], methods, batches)  # warm up: sessions built, first calls done
    browser, isolated_page = browser_worker(
        {
            "artifacts": [str(p.resolve()) for p in args.artifacts],
            "texts": texts,
            "methods": methods,
            "batches": batches,
            "wasmThreads": args.threads,
        }
    )
    rounds: dict[str, list[dict]] = {"browser": [], "python": []}
    try:
        for _ in range(args.rounds):
            rounds["browser"].append(browser.ask({"round": True})["seconds"])
            rounds["python"].append(python_round(explainers, texts, methods, batches))
    finally:
        browser.close()

    isolated = "cross-origin isolated" if isolated_page else "not cross-origin isolated"
    print(
        f"{len(texts)} texts, {args.rounds} interleaved rounds, {args.threads} thread(s) each (the page {isolated}); "
        "ms per explanation (median)"
    )
    print("| artifact | method | batch | Python | browser | browser / Python | speed-up over 0: Python | browser |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for index, path in enumerate(args.artifacts):
        for method in methods:
            for batch in batches:
                key = (str(index), method, str(batch))
                median = {side: statistics.median(r[key[0]][method][key[2]] for r in rounds[side]) for side in rounds}
                first = {side: statistics.median(r["0"][method][key[2]] for r in rounds[side]) for side in rounds}
                print(
                    f"| {index}: {path.name} | {method} | {batch} | {1000 * median['python']:.1f} | "
                    f"{1000 * median['browser']:.1f} | {median['browser'] / median['python']:.2f} | "
                    f"{first['python'] / median['python']:.2f}x | {first['browser'] / median['browser']:.2f}x |"
                )


if __name__ == "__main__":
    main()
