"""``onnxplain explain ARTIFACT "text" ... | --file texts.txt``: explain texts, print or save the views.

For a question answering artifact: ``onnxplain explain ARTIFACT --question Q --context C`` (repeat both for
several pairs, paired in order) or ``--file pairs.jsonl`` (or .csv/.tsv with ``question`` and ``context``
columns); the predicted answer of each pair is explained. The options are those of every task; the artifact's
task (``onnxplain.runtime.tasks``) reads the inputs and ``--target`` and refuses what does not apply to it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

FORMATS = ("term", "html", "json")
DEVICES = ("cpu", "cuda", "auto")
CHUNK_BATCHES = 4  # batches per progress-bar step


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("artifact", type=Path, help="artifact directory written by `onnxplain export`")
    parser.add_argument("texts", nargs="*", help="texts to explain")
    parser.add_argument(
        "--file",
        type=Path,
        help="also explain the texts of this UTF-8 file: one a line (blank lines skipped), or the text column "
        "of a .csv/.tsv/.jsonl file (see --text-column); for a question answering artifact, a .jsonl, .csv or "
        ".tsv file with question and context fields",
    )
    parser.add_argument(
        "--text-column",
        help="column or JSON key of the texts in a .csv/.tsv/.jsonl --file (default 'text'); 0-based index for "
        "a CSV/TSV without a header row",
    )
    parser.add_argument(
        "--question", action="append", default=[], help="question answering artifacts: a question (repeatable)"
    )
    parser.add_argument(
        "--context", action="append", default=[], help="the context of the --question at the same position"
    )
    parser.add_argument("--method", help="explanation method (default: the artifact's default method)")
    parser.add_argument("--target", help="label (name or index) to explain; default: the predicted one")
    parser.add_argument("--format", choices=FORMATS, default="term", help="output view (default: term)")
    parser.add_argument("--out", type=Path, help="write here instead of standard output")
    parser.add_argument("--device", choices=DEVICES, default="cpu", help="where to run (default: cpu)")
    parser.add_argument("--batch-size", type=int, default=16, help="texts per ONNX Runtime call (default: 16)")
    parser.add_argument("--max-length", type=int, help="cut texts after this many tokens (default: the model's)")
    parser.add_argument(
        "--memory-budget",
        help="memory the explanations may use beyond the loaded model, such as 2GiB: batches are formed to fit it "
        "(default: from the container's memory limit or the machine's RAM; 'unlimited': --batch-size only)",
    )


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from onnxplain.runtime import Explainer

    explainer = Explainer.load(
        args.artifact,
        device=args.device,
        batch_size=args.batch_size,
        max_length=args.max_length,
        memory_budget=args.memory_budget,
    )
    task = explainer.task
    items = task.cli_items(args)
    target = task.cli_target(args.target)
    if explainer.device.note:
        print(f"onnxplain explain: {explainer.device.note}", file=sys.stderr)
    method = args.method or explainer.default_method
    explainer.check_method(method)
    encodings = explainer.encode(items)
    targets = task.targets(target, encodings)
    chunk = explainer.batch_size * CHUNK_BATCHES
    results = []
    with tqdm(total=len(items), unit=task.item_noun, disable=args.file is None, file=sys.stderr) as progress:
        for start in range(0, len(items), chunk):
            part = slice(start, start + chunk)
            results += explainer.explain_encodings(encodings[part], method, targets[part])
            progress.update(len(encodings[part]))
    write_output(args, task.render(results, args.format, color=use_color(args)), len(results))
    return 0


def use_color(args: argparse.Namespace) -> bool:
    return args.out is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ


def write_output(args: argparse.Namespace, output: str, count: int) -> None:
    if args.out is None:
        sys.stdout.write(output)
    else:
        args.out.write_text(output, encoding="utf-8")
        print(f"onnxplain explain: wrote {count} explanation(s) to {args.out}", file=sys.stderr)
