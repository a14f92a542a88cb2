"""``onnxplain heads MODEL_DIR --corpus FILE --out DIR``: find a model's syntactic and positional heads.

Writes ``mask.npy`` (float32 0/1, layers x heads), ``statistics.json`` (hit rates, positional offsets and
frequencies, the selection and its provenance) and ``heads.png`` (the heat maps) into DIR.
"""

from __future__ import annotations

import argparse

MASK_FILE = "mask.npy"
STATISTICS_FILE = "statistics.json"
PICTURE_FILE = "heads.png"


def configure(parser: argparse.ArgumentParser) -> None:
    from onnxplain.calibration.dependencies import RELATIONS
    from onnxplain.calibration.selection import DEFAULT_MODE, MODES, Thresholds

    defaults = Thresholds()
    parser.add_argument("model_dir", metavar="MODEL_DIR", help="Hugging Face model directory")
    parser.add_argument(
        "--corpus", required=True, metavar="FILE", help="sentences: .txt (one a line), .csv/.tsv or .jsonl"
    )
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="directory for mask.npy, statistics.json, heads.png"
    )
    parser.add_argument(
        "--mode", choices=MODES, default=DEFAULT_MODE, help="which heads the mask keeps (default %(default)s)"
    )
    for relation in RELATIONS:
        parser.add_argument(
            f"--theta-{relation}",
            type=float,
            default=getattr(defaults, relation),
            metavar="SHARE",
            help=f"hit rate above which a head is syntactic for {relation} (default %(default)s)",
        )
    parser.add_argument(
        "--xi-pos",
        type=float,
        default=defaults.positional,
        metavar="SHARE",
        help="share of tokens one offset must exceed for a positional head (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random mode (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=64, help="sentences per forward pass (default %(default)s)")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="use only the first N sentences")
    parser.add_argument("--max-length", type=int, default=None, metavar="TOKENS", help="truncate longer sentences")
    parser.add_argument(
        "--text-column",
        default=None,
        metavar="NAME",
        help="CSV column or JSON field with the text (default 'text'); for a CSV without a header row, the "
        "column's 0-based index (1 = the second column)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="PyTorch CPU threads (default: PyTorch's choice)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    import json
    import time
    from pathlib import Path

    import numpy as np

    from onnxplain.calibration.calibrate import calibrate
    from onnxplain.calibration.dependencies import RELATIONS
    from onnxplain.calibration.plot import plot_head_statistics
    from onnxplain.calibration.selection import Thresholds, kept_head_list
    from onnxplain.errors import UserError

    if args.threads is not None:
        import torch

        if args.threads < 1:
            raise UserError(f"--threads {args.threads} is not positive; pass 1 or more")
        torch.set_num_threads(args.threads)
    thresholds = Thresholds.from_mapping(
        {
            **{relation: getattr(args, f"theta_{relation}") for relation in RELATIONS},
            "positional": args.xi_pos,
        }
    )
    started = time.perf_counter()
    calibration = calibrate(
        args.model_dir,
        args.corpus,
        mode=args.mode,
        thresholds=thresholds,
        seed=args.seed,
        batch_size=args.batch_size,
        limit=args.limit,
        text_column=args.text_column,
        max_length=args.max_length,
        progress=not args.quiet,
    )
    seconds = time.perf_counter() - started
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / MASK_FILE, calibration.mask)
    report = {**calibration.provenance(), "seconds": round(seconds, 1)}
    (out / STATISTICS_FILE).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    model_name = "/".join(Path(args.model_dir).resolve().parts[-2:])
    plot_head_statistics(
        out / PICTURE_FILE,
        calibration.accuracy,
        calibration.positional_offset,
        calibration.positional_frequency,
        calibration.mask,
        thresholds=thresholds,
        arcs_per_relation=calibration.arcs_per_relation,
        mode=calibration.mode,
        title=f"{model_name}: {calibration.corpus['sentences']} sentences of {Path(args.corpus).name}",
    )
    kept = kept_head_list(calibration.mask)
    counts = ", ".join(f"{mode} {count}" for mode, count in calibration.kept_by_mode().items())
    print(f"{calibration.corpus['sentences']} sentences in {seconds:.1f} s")
    print(f"mode {calibration.mode}: {len(kept)} of {calibration.mask.size} heads kept: {kept}")
    print(f"heads kept by mode: {counts}")
    print(f"wrote {out / MASK_FILE}, {out / STATISTICS_FILE}, {out / PICTURE_FILE}")
    return 0
