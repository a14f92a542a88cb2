"""``onnxplain bench ARTIFACT``: time the standard forward (the checkpoint exported the usual way and optimised by
ONNX Runtime), the forward graph, each method's explain graph, the same methods in eager PyTorch and Captum's
Integrated Gradients, interleaved in one process; print ratios and write JSON.

Needs the export side (torch, transformers, captum) and, for the eager and Integrated Gradients yardsticks,
the Hugging Face directory the artifact was exported from (``manifest.source.model_dir``)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from onnxplain.errors import UserError

DEFAULT_METHODS = ("mask-lrp", "transatt", "attnlrp", "cp-lrp", "grad-input")


def integers(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must list positive integers, e.g. 1,8,32")
    return values


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("artifact", type=Path, help="artifact directory (from onnxplain export or build)")
    parser.add_argument("--batch-sizes", type=integers, default=[1, 8, 32], help="default 1,8,32")
    parser.add_argument("--lengths", type=integers, default=[32, 128, 512], help="tokens per text; default 32,128,512")
    parser.add_argument(
        "--methods", default=",".join(DEFAULT_METHODS), help="comma-separated methods, or 'all' (default: %(default)s)"
    )
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds per cell; medians are reported")
    parser.add_argument(
        "--budget", type=float, default=4.0, help="seconds per candidate and cell; slow candidates get fewer rounds"
    )
    parser.add_argument(
        "--no-standard",
        action="store_true",
        help="skip the standard forward (torch.onnx.export of the Hugging Face model, ONNX Runtime's optimiser)",
    )
    parser.add_argument("--no-eager", action="store_true", help="skip eager PyTorch")
    parser.add_argument("--no-captum", action="store_true", help="skip Captum's Integrated Gradients")
    parser.add_argument(
        "--yardstick-max-tokens",
        type=int,
        default=1024,
        help="run eager PyTorch and Integrated Gradients only where batch x length is at most this (default 1024)",
    )
    parser.add_argument("--memory-batch", type=int, default=8, help="batch of the memory probes (default 8)")
    parser.add_argument("--no-memory", action="store_true", help="skip the per-graph memory probes")
    parser.add_argument("--time-export", action="store_true", help="re-export the source model once and time it")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="ONNX Runtime device")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for ONNX Runtime and torch")
    parser.add_argument("--json", type=Path, help="write every figure here as JSON")


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch starts its thread pool
    from onnxplain.bench.grid import BenchSettings, run_benchmark
    from onnxplain.runtime.artifact import read_manifest

    manifest = read_manifest(args.artifact)
    methods = list(manifest.methods) if args.methods == "all" else [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in manifest.methods]
    if unknown:
        raise UserError(f"the artifact has no method {', '.join(unknown)}; it offers {', '.join(manifest.methods)}")
    if args.rounds < 1 or args.budget <= 0:
        raise UserError("--rounds must be at least 1 and --budget positive")
    settings = BenchSettings(
        batch_sizes=args.batch_sizes,
        lengths=args.lengths,
        methods=methods,
        rounds=args.rounds,
        budget_s=args.budget,
        eager=not args.no_eager,
        integrated_gradients=not args.no_captum,
        yardstick_max_tokens=args.yardstick_max_tokens,
        memory_batch=None if args.no_memory else args.memory_batch,
        time_export=args.time_export,
        device=args.device,
        threads=args.threads,
        standard=not args.no_standard,
    )
    report = run_benchmark(args.artifact, manifest, settings, progress=print)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0
