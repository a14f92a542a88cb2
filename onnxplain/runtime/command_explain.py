"""``onnxplain explain ARTIFACT "text" ... | --file texts.txt``: explain texts, print or save the views.

For a question answering artifact: ``onnxplain explain ARTIFACT --question Q --context C`` (repeat both for
several pairs, paired in order) or ``--file pairs.jsonl`` (or .csv/.tsv with ``question`` and ``context``
columns); the predicted answer of each pair is explained.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

FORMATS = ("term", "html", "json")
DEVICES = ("cpu", "cuda", "auto")
CHUNK_BATCHES = 4  # batches per progress-bar step
TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson")  # read by column; any other --file is one text a line


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
    parser.add_argument("--method", help="explanation method (default: mask-lrp when the artifact has it)")
    parser.add_argument("--target", help="label (name or index) to explain; default: the predicted one")
    parser.add_argument("--format", choices=FORMATS, default="term", help="output view (default: term)")
    parser.add_argument("--out", type=Path, help="write here instead of standard output")
    parser.add_argument("--device", choices=DEVICES, default="cpu", help="where to run (default: cpu)")
    parser.add_argument("--batch-size", type=int, default=16, help="texts per ONNX Runtime call (default: 16)")
    parser.add_argument("--max-length", type=int, help="cut texts after this many tokens (default: the model's)")


def read_texts(args: argparse.Namespace) -> list[str]:
    from onnxplain.errors import UserError

    texts = list(args.texts)
    if args.file is not None and args.file.suffix.lower() in TABLE_SUFFIXES:
        from onnxplain.corpus import Column, read_rows

        column = Column(args.text_column or "text", implicit=args.text_column is None)
        texts += [row.values[0] for row in read_rows(args.file, [column], what="text file") if row.values[0].strip()]
    elif args.file is not None:
        try:
            lines = args.file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise UserError(f"cannot read {args.file} ({error}); pass a UTF-8 text file, one text per line") from None
        texts += [line for line in lines if line.strip()]
    if not texts:
        raise UserError("no text to explain; pass texts as arguments or a file with --file")
    return texts


def read_pairs(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """The question + context pairs of ``--question``/``--context`` and of ``--file``."""
    from onnxplain.errors import UserError
    from onnxplain.runtime.question_answering import read_question_pairs

    if args.texts:
        raise UserError(
            "this artifact answers questions, so it explains question + context pairs, not texts; "
            "pass --question Q --context C (or --file pairs.jsonl) instead of texts"
        )
    if len(args.question) != len(args.context):
        raise UserError(
            f"{len(args.question)} --question and {len(args.context)} --context were given; "
            "give one context per question"
        )
    questions, contexts = list(args.question), list(args.context)
    if args.file is not None:
        more_questions, more_contexts = read_question_pairs(args.file)
        questions += more_questions
        contexts += more_contexts
    if not questions:
        raise UserError("no question to explain; pass --question Q --context C, or a file of pairs with --file")
    return questions, contexts


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from onnxplain.errors import UserError
    from onnxplain.runtime import Explainer
    from onnxplain.runtime.question_answering import QUESTION_ANSWERING
    from onnxplain.runtime.render import render

    explainer = Explainer.load(
        args.artifact, device=args.device, batch_size=args.batch_size, max_length=args.max_length
    )
    if explainer.manifest.task == QUESTION_ANSWERING:
        return run_question_answering(args, explainer)
    if args.question or args.context:
        raise UserError(
            f"this artifact is a {explainer.manifest.task} model and explains texts, not questions; "
            "pass texts (or --file) without --question/--context"
        )
    texts = read_texts(args)
    if explainer.device.note:
        print(f"onnxplain explain: {explainer.device.note}", file=sys.stderr)
    method = args.method or explainer.default_method
    explainer.check_method(method)
    target = int(args.target) if args.target is not None and args.target.isdigit() else args.target
    targets = explainer.target_indices(target, len(texts))
    encodings = explainer.tokenize(texts)
    chunk = explainer.batch_size * CHUNK_BATCHES
    results = []
    with tqdm(total=len(texts), unit="text", disable=args.file is None, file=sys.stderr) as progress:
        for start in range(0, len(texts), chunk):
            part = slice(start, start + chunk)
            results += explainer.explain_encodings(encodings[part], method, targets[part])
            progress.update(len(encodings[part]))
    write_output(args, render(results, args.format, color=use_color(args)), len(results))
    return 0


def run_question_answering(args: argparse.Namespace, explainer: Any) -> int:
    """Explain the predicted answer of each question + context pair (see ``question_answering``)."""
    from tqdm import tqdm

    from onnxplain.errors import UserError
    from onnxplain.runtime.question_answering import explain_answers
    from onnxplain.runtime.render.answers import render_answers

    if args.target is not None:
        raise UserError("a question answering artifact explains its predicted answer; drop --target")
    questions, contexts = read_pairs(args)
    if explainer.device.note:
        print(f"onnxplain explain: {explainer.device.note}", file=sys.stderr)
    method = args.method or explainer.default_method
    explainer.check_method(method)
    chunk = explainer.batch_size * CHUNK_BATCHES
    results = []
    with tqdm(total=len(questions), unit="pair", disable=args.file is None, file=sys.stderr) as progress:
        for start in range(0, len(questions), chunk):
            part = slice(start, start + chunk)
            results += explain_answers(explainer, questions[part], contexts[part], method)
            progress.update(len(questions[part]))
    write_output(args, render_answers(results, args.format, color=use_color(args)), len(results))
    return 0


def use_color(args: argparse.Namespace) -> bool:
    return args.out is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ


def write_output(args: argparse.Namespace, output: str, count: int) -> None:
    if args.out is None:
        sys.stdout.write(output)
    else:
        args.out.write_text(output, encoding="utf-8")
        print(f"onnxplain explain: wrote {count} explanation(s) to {args.out}", file=sys.stderr)
