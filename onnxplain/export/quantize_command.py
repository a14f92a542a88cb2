"""``onnxplain quantize ARTIFACT OUT --precision int8|fp16 --data HELDOUT.csv``: a reduced-precision copy of an
fp32 artifact, checked against PyTorch at the precision's tolerance (the source model directory named in the
manifest is needed) and measured against the fp32 artifact on labelled held-out texts (see
``onnxplain.export.precision``). Needs the ``export`` extra."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from onnxplain.errors import UserError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("artifact", type=Path, help="an fp32 artifact directory")
    parser.add_argument("out_dir", type=Path, help="directory to write the reduced artifact to")
    parser.add_argument("--precision", required=True, choices=("int8", "fp16"))
    parser.add_argument("--data", type=Path, required=True, help="labelled held-out CSV (text, label)")
    parser.add_argument("--limit", type=int, default=200, help="texts of >= 20 tokens used (default 200)")


def run(args: argparse.Namespace) -> int:
    from onnxplain.export.checkpoint import load_checkpoint
    from onnxplain.export.exporter import check_precision_request, reduce_checked
    from onnxplain.runtime.artifact import read_manifest

    manifest = read_manifest(args.artifact)
    if manifest.precision != "fp32":
        raise UserError(f"{args.artifact} is already {manifest.extra['precision']}; reduce an fp32 artifact")
    check_precision_request(args.precision, args.data)
    model_dir = manifest.source.get("model_dir")
    if not model_dir or not Path(model_dir).is_dir():
        raise UserError(
            f"the artifact's source model directory {model_dir!r} is not here, and the reduced graph is checked "
            "against it in PyTorch; run where the artifact was exported, or export again with --precision"
        )
    if args.out_dir.exists() and any(args.out_dir.iterdir()):
        raise UserError(f"{args.out_dir} is not empty; pass a new directory")
    started = time.perf_counter()
    weights = load_checkpoint(Path(model_dir), manifest.task).weights
    has_token_types = "token_type_ids" in manifest.inputs
    reduce_checked(args.artifact, args.out_dir, args.precision, args.data, args.limit, weights, has_token_types)
    reduced = read_manifest(args.out_dir)
    print(f"wrote {args.out_dir} ({args.precision}) in {time.perf_counter() - started:.0f} s")
    for method, measures in reduced.extra["fidelity"]["methods"].items():
        verdict = "recommended" if measures["recommended"] else "NOT recommended"
        print(
            f"  {method:18s} Spearman median {measures['spearman_median']:.3f} (p5 {measures['spearman_p5']:.3f}), "
            f"top-5 {measures['top5_overlap']:.2f}, AOPC {measures['aopc']:.3f} vs {measures['aopc_fp32']:.3f}"
            f" ({100 * measures['aopc_relative_difference']:+.1f}%), relevance path {measures['relevance_path']}:"
            f" {verdict}"
        )
    return 0
