"""Goal 4 of issue 9: what one explanation costs with ``cp-lrp-pad`` next to ``mask-lrp`` (and ``cp-lrp``),
in eager PyTorch on one batch of a model's real sentences, the methods interleaved, best of ``--repeats``.

    python benchmarks/beyond_cost.py artifacts/minilm-sentiment [--batch 32] [--repeats 5]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import torch

from onnxplain.export.checkpoint import load_checkpoint
from onnxplain.export.methods import explain
from onnxplain.runtime.artifact import read_manifest
from onnxplain.runtime.tokenization import TextTokenizer, pad

METHODS = ("mask-lrp", "cp-lrp", "cp-lrp-pad")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("build", type=Path, help="a build's output folder (model/, artifact/, heldout.csv)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
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
    best = {m: float("inf") for m in METHODS}
    for _ in range(args.repeats):
        for method in METHODS:
            started = time.perf_counter()
            explain(weights, input_ids, attention_mask, None, target, head_mask, [method])
            best[method] = min(best[method], time.perf_counter() - started)
    print(f"{len(texts)} texts, {input_ids.shape[1]} tokens, best of {args.repeats}:")
    for method in METHODS:
        print(f"  {method:11s} {best[method] * 1000:7.0f} ms   {best[method] / best['mask-lrp']:.2f} x mask-lrp")


if __name__ == "__main__":
    main()
