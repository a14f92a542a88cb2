"""``onnxplain export MODEL_DIR OUT_DIR``: write an explainer artifact (needs the ``export`` extra)."""

from __future__ import annotations

import argparse
import textwrap
import time
from pathlib import Path

from onnxplain.errors import UserError
from onnxplain.export.registry import METHOD_NAMES, REGISTRY


def methods_help() -> str:
    """The registry as the help's epilog: every method with its one line."""
    width = max(len(m.name) for m in REGISTRY) + 2
    lines = ["methods (docs/methods.md):"]
    for method in REGISTRY:
        wrapped = textwrap.wrap(method.description, 118 - width)
        lines.append(f"  {method.name:<{width}}{wrapped[0]}")
        lines.extend(" " * (width + 2) + line for line in wrapped[1:])
    return "\n".join(lines)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = methods_help()
    from onnxplain.runtime.tasks import TASKS

    parser.add_argument("model_dir", type=Path, help="Hugging Face sequence-classification or causal-LM directory")
    parser.add_argument("out_dir", type=Path, help="artifact directory to write")
    parser.add_argument(
        "--methods",
        default=",".join(METHOD_NAMES),
        help="comma-separated subset of the methods below (default all)",
    )
    parser.add_argument(
        "--default-method",
        help="the method consumers use when none is asked for (default: the first exported in the list below)",
    )
    masks = parser.add_mutually_exclusive_group()
    masks.add_argument("--head-mask", type=Path, help="layers x heads 0/1 .npy file (default: every head kept)")
    masks.add_argument(
        "--calibration",
        type=Path,
        help="corpus (txt, csv or jsonl) to find syntactic and positional heads on",
    )
    parser.add_argument(
        "--calibration-mode",
        default="synt+pos",
        help="head selection with --calibration: synt+pos (default), synt, pos, all, none, random",
    )
    parser.add_argument(
        "--calibration-text-column", help="name or 0-based index of the text column of a CSV/JSONL corpus"
    )
    parser.add_argument(
        "--task",
        choices=tuple(TASKS),
        help="what to explain (default: the task the checkpoint's class names)",
    )
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    parser.add_argument(
        "--precision",
        default="fp32",
        choices=("fp32", "fp16", "int8"),
        help="int8 (weights and matrix products, CPU) or fp16 (GPU): derived from the checked fp32 graph and "
        "measured against it on --fidelity-data (default fp32)",
    )
    parser.add_argument("--fidelity-data", type=Path, help="labelled held-out CSV (text, label) for int8/fp16")
    parser.add_argument("--fidelity-limit", type=int, default=200, help="texts of >= 20 tokens used (default 200)")
    parser.add_argument("--max-length", type=int, help="longest input in tokens (default: the model's limit)")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from onnxplain.export import export_model

    head_mask, source = None, None
    if args.head_mask is not None:
        try:
            head_mask = np.load(args.head_mask)
        except (OSError, ValueError) as error:
            raise UserError(f"cannot read the head mask {args.head_mask} ({error}); pass a .npy file") from None
        source = {"source": "file", "path": str(args.head_mask)}
    elif args.calibration is not None:
        from onnxplain.calibration import calibrate_for_export

        options = {} if args.calibration_text_column is None else {"text_column": args.calibration_text_column}
        head_mask, source = calibrate_for_export(
            args.model_dir, args.calibration, mode=args.calibration_mode, **options
        )
    started = time.perf_counter()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    out = export_model(
        args.model_dir,
        args.out_dir,
        methods=methods,
        head_mask=head_mask,
        head_mask_source=source,
        opset=args.opset,
        max_length=args.max_length,
        task=args.task,
        default_method=args.default_method,
        precision=args.precision,
        fidelity_data=args.fidelity_data,
        fidelity_limit=args.fidelity_limit,
    )
    print(f"wrote {out} in {time.perf_counter() - started:.0f} s (checked against PyTorch at 2 other shapes)")
    return 0
