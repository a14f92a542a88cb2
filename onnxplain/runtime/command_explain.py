"""``onnxplain explain ARTIFACT "text" ... | --file texts.txt``: explain texts, print or save the views."""

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
    parser.add_argument("--file", type=Path, help="also explain the lines of this UTF-8 file (blank lines skipped)")
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
    if args.file is not None:
        try:
            lines = args.file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise UserError(f"cannot read {args.file} ({error}); pass a UTF-8 text file, one text per line") from None
        texts += [line for line in lines if line.strip()]
    if not texts:
        raise UserError("no text to explain; pass texts as arguments or a file with --file")
    return texts


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from onnxplain.runtime import Explainer
    from onnxplain.runtime.render import render

    texts = read_texts(args)
    explainer = Explainer.load(
        args.artifact, device=args.device, batch_size=args.batch_size, max_length=args.max_length
    )
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
    color = args.out is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    output = render(results, args.format, color=color)
    if args.out is None:
        sys.stdout.write(output)
    else:
        args.out.write_text(output, encoding="utf-8")
        print(f"onnxplain explain: wrote {len(results)} explanation(s) to {args.out}", file=sys.stderr)
    return 0
