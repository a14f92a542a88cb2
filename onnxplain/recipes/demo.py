"""``onnxplain demo``: build the MiniLM sentiment model once (cached afterwards) and explain a few sentences,
as a heat map in the terminal and as an HTML page. Asks nothing; everything comes from package registries."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEMO_RECIPE = "minilm-sentiment"
DEMO_SENTENCES = (
    "A gripping, beautifully acted film that stays with you long after the credits roll.",
    "The plot is thin, the jokes fall flat, and two hours have rarely felt this long.",
    "Not nearly as bad as I feared, though the ending is a mess.",
    "An unexpectedly moving story, even if the middle drags a little.",
)


def configure(parser: argparse.ArgumentParser) -> None:
    from onnxplain.recipes.command import add_override_options

    parser.add_argument(
        "--out", type=Path, help="where to build the model (default: models/minilm-sentiment in the cache)"
    )
    parser.add_argument("--method", help="explanation method (default: the artifact's default method)")
    add_override_options(parser)


def run(args: argparse.Namespace) -> int:
    from onnxplain.recipes.build import build
    from onnxplain.recipes.card import headline
    from onnxplain.recipes.command import overridden_recipe
    from onnxplain.recipes.fetch import cache_dir
    from onnxplain.runtime import Explainer
    from onnxplain.runtime.render import render_html, render_terminal

    out = args.out or cache_dir() / "models" / DEMO_RECIPE
    result = build(overridden_recipe(args, DEMO_RECIPE), out)
    explainer = Explainer.load(result.artifact_dir)
    method = args.method or explainer.default_method
    explanations = explainer.explain(list(DEMO_SENTENCES), method=method)
    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    print(f"\n{headline(result.summary)}; explaining with {method}\n")
    print(render_terminal(explanations, color=color))
    page = result.out_dir / "demo.html"
    page.write_text(render_html(explanations, title=f"onnxplain demo: {DEMO_RECIPE}"), encoding="utf-8")
    print(f"HTML page: {page.resolve()}")
    artifact = result.artifact_dir.resolve()
    print(f'artifact:  {artifact}  (try: onnxplain explain {artifact} "your own sentence")')
    return 0
