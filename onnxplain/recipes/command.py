"""``onnxplain build RECIPE --out DIR``: rebuild a model from its recipe and export it as an artifact."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_override_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--epochs", type=int, help="fine-tuning epochs (default: the recipe's)")
    parser.add_argument("--limit-train", type=int, metavar="N", help="fine-tune on the first N training sentences only")
    parser.add_argument(
        "--calibration-limit",
        type=int,
        metavar="N",
        help="identify heads on the first N corpus sentences only",
    )
    parser.add_argument(
        "--methods", help="comma-separated methods to export (default: the recipe's, else every method)"
    )


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="a recipe name under models/ (e.g. minilm-sentiment) or a recipe.toml path")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the artifact, model and card to")
    add_override_options(parser)
    parser.add_argument("--cache", type=Path, help="cache folder (default: $ONNXPLAIN_CACHE or ~/.cache/onnxplain)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def overridden_recipe(args: argparse.Namespace, name: str):  # -> Recipe
    from onnxplain.recipes.recipe import load_recipe

    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip()) if args.methods else None
    return load_recipe(name).with_overrides(
        epochs=args.epochs,
        limit_train=args.limit_train,
        calibration_limit=args.calibration_limit,
        methods=methods,
    )


def run(args: argparse.Namespace) -> int:
    from onnxplain.recipes.build import build
    from onnxplain.recipes.card import headline

    result = build(overridden_recipe(args, args.recipe), args.out, cache=args.cache, progress=not args.quiet)
    print(
        f"built {headline(result.summary)}; artifact {result.summary['artifact_bytes'] / 1e6:.1f} MB at "
        f"{result.artifact_dir} (model card: {result.out_dir / 'MODEL_CARD.md'})"
    )
    return 0
