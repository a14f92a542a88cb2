"""The ``onnxplain`` command. Each subcommand lives in its own module with ``configure(parser)`` and
``run(args) -> int``; modules are imported only when their command is used, so the runtime commands
never pay for (or need) PyTorch."""

from __future__ import annotations

import argparse
import importlib
import sys

from onnxplain import __version__
from onnxplain.errors import UserError
from onnxplain.extras import missing_extra

# command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "export": ("onnxplain.export.command", "export a Hugging Face classifier as an explainer artifact"),
    "quantize": (
        "onnxplain.export.quantize_command",
        "write an int8 (CPU) or fp16 (GPU) copy of an artifact, its fidelity to fp32 measured into the manifest",
    ),
    "explain": (
        "onnxplain.runtime.command_explain",
        "explain texts with an artifact (terminal, HTML or JSON)",
    ),
    "explain-dataset": (
        "onnxplain.bulk.command",
        "explain every row of a CSV/TSV/JSONL/Parquet data set into Parquet, locally or on Ray Data",
    ),
    "serve": ("onnxplain.runtime.command_serve", "serve explanations over HTTP (POST /explain)"),
    "heads": ("onnxplain.calibration.command", "find a model's syntactic and positional heads from a corpus"),
    "evaluate": ("onnxplain.evaluation.command", "measure the faithfulness (AOPC, log-odds) of every method"),
    "build": ("onnxplain.recipes.command", "rebuild a model from its recipe (models/) and export it"),
    "demo": ("onnxplain.recipes.demo", "build the MiniLM sentiment model once and explain a few sentences"),
    "bench": ("onnxplain.bench.command", "time explanations against the forward graph, eager PyTorch and IG"),
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="onnxplain", description="LRP explanations of Transformer classifiers, exported as one ONNX graph."
    )
    parser.add_argument("--version", action="version", version=f"onnxplain {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == wanted:  # only the chosen command's module is imported
            module = importlib.import_module(module_name)
            module.configure(sub)
            sub.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), "")
    try:
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        if getattr(args, "handler", None) is None:
            parser.print_help()
            return 2
        return int(args.handler(args) or 0)
    except UserError as error:
        print(f"onnxplain {command}: error: {error}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as error:
        message = missing_extra(error)
        if message is None:
            raise
        print(f"onnxplain {command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
