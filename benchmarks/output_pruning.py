"""Does ONNX Runtime skip graph nodes whose outputs are not fetched? And what does pruning save?

Times, on one artifact and one batch: the whole graph fetching only ``logits``, the whole graph fetching
everything, and the runtime's pruned sessions for ``logits`` alone and for ``logits`` + one method. If the
first two take the same time, ONNX Runtime does not prune, and the pruned sessions are what make a call pay
only for what it asks.

    python benchmarks/output_pruning.py ARTIFACT [--method mask-lrp] [--batch 16] [--repeats 20]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort

from onnxplain.runtime import Explainer
from onnxplain.runtime.sessions import session_options
from onnxplain.runtime.tokenization import pad

SENTENCE = "The plot meanders for two hours and the ending, frankly, makes no sense at all, yet I smiled."


def best_of(repeats: int, call: Callable[[], object]) -> float:
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--method", default="mask-lrp")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    explainer = Explainer.load(args.artifact)
    input_ids, attention_mask = pad(explainer.tokenize([SENTENCE] * args.batch), explainer.manifest.pad_token_id)
    feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
    whole = ort.InferenceSession(
        str(args.artifact / "model.onnx"), session_options(None), providers=["CPUExecutionProvider"]
    )
    names = {i.name for i in whole.get_inputs()}
    feeds = {k: v for k, v in feeds.items() if k in names}
    if "target" in names:
        feeds["target"] = np.full(args.batch, -1, dtype=np.int64)
    if "token_type_ids" in names:
        feeds["token_type_ids"] = input_ids * 0
    if "head_mask" in names:
        feeds["head_mask"] = np.asarray(explainer.manifest.default_head_mask, dtype=np.float32)

    figures = {
        "whole graph, fetch logits": best_of(args.repeats, lambda: whole.run(["logits"], feeds)),
        "whole graph, fetch all": best_of(args.repeats, lambda: whole.run(None, feeds)),
        "pruned, logits": best_of(args.repeats, lambda: explainer.run(input_ids, attention_mask, methods=())),
        f"pruned, logits + {args.method}": best_of(
            args.repeats, lambda: explainer.run(input_ids, attention_mask, methods=(args.method,))
        ),
        "pruned, all methods": best_of(args.repeats, lambda: explainer.run(input_ids, attention_mask)),
    }
    print(f"{args.artifact}: batch {args.batch} x {input_ids.shape[1]} tokens, best of {args.repeats}")
    base = figures["whole graph, fetch all"]
    for name, seconds in figures.items():
        print(f"  {name:<32} {1000 * seconds:8.2f} ms  ({seconds / base:.2f} of the whole graph)")


if __name__ == "__main__":
    main()
