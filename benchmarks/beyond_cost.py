"""Goal 4 of issue 9: what one explanation costs with ``cp-lrp-lookahead`` and ``cp-lrp-pad`` next to
``mask-lrp`` (and ``cp-lrp``), on one batch of a model's real sentences, the methods interleaved, best of
``--repeats``: in eager PyTorch, and with ``--onnx`` also through the artifact in ONNX Runtime (each
method's pruned explain graph, as ``Explainer.run`` uses it).

    python benchmarks/beyond_cost.py artifacts/minilm-sentiment [--batch 32] [--repeats 5] [--onnx]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import torch

from onnxplain.export.checkpoint import load_checkpoint
from onnxplain.export.explain import explain
from onnxplain.runtime.artifact import read_manifest
from onnxplain.runtime.tokenization import TextTokenizer, pad

METHODS = ("mask-lrp", "cp-lrp", "cp-lrp-pad", "cp-lrp-lookahead")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("build", type=Path, help="a build's output folder (model/, artifact/, heldout.csv)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--onnx", action="store_true", help="also time the artifact's graphs in ONNX Runtime")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    weights = load_checkpoint(args.build / "model").weights
    manifest = read_manifest(args.build / "artifact")
    with (args.build / "heldout.csv").open(encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)][: args.batch]
    encodings = TextTokenizer(args.build / "artifact" / "tokenizer.json", manifest.max_length).encode(texts)
    input_ids, attention_mask = (torch.from_numpy(a) for a in pad(encodings, manifest.pad_token_id))
    head_mask = torch.tensor(manifest.default_head_mask, dtype=torch.float32)
    target = torch.full((len(texts),), -1)
    candidates = {
        f"eager {m}": lambda m=m: explain(weights, input_ids, attention_mask, None, target, head_mask, [m])
        for m in METHODS
    }
    if args.onnx:
        from onnxplain.runtime import Explainer

        explainer = Explainer.load(
            args.build / "artifact", device="cpu", intra_op_threads=args.threads, cached_sessions=len(METHODS) + 1
        )
        ids, mask = input_ids.numpy(), attention_mask.numpy()
        for m in ("forward", *METHODS):
            wanted = () if m == "forward" else (m,)
            candidates[f"onnx {m}"] = lambda wanted=wanted: explainer.run(ids, mask, methods=wanted)
            candidates[f"onnx {m}"]()  # build the session outside the timing
    best = {name: float("inf") for name in candidates}
    for _ in range(args.repeats):
        for name, run in candidates.items():
            started = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - started)
    print(f"{len(texts)} texts, {input_ids.shape[1]} tokens, best of {args.repeats}:")
    for name in candidates:
        kind = name.split()[0]
        print(f"  {name:22s} {best[name] * 1000:7.0f} ms   {best[name] / best[f'{kind} mask-lrp']:.2f} x mask-lrp")


if __name__ == "__main__":
    main()
