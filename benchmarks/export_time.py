"""Time `export_model` on tiny random models (the size the tests export), stage by stage.

    python benchmarks/export_time.py [--repeat 3] [--architectures bert,gpt2]

Prints, per architecture, the median wall and processor time of the whole export and of its three stages:
tracing the explain function (make_fx with the decomposition table), writing ONNX (torch.onnx.export of the
traced graph) and the export check in ONNX Runtime. PyTorch runs on one thread, so on a busy machine the
processor time is the steadier figure. Run it before and after a change on the same machine, interleaved;
the figures are only comparable within one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def timed(stages: dict[str, list[tuple[float, float]]], name: str, function: Callable) -> Callable:
    """``function``, recording its wall and processor seconds under ``name``."""

    def wrapper(*args, **kwargs):
        wall, processor = time.perf_counter(), time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            stages[name].append((time.perf_counter() - wall, time.process_time() - processor))

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--architectures", default="bert,gpt2")
    args = parser.parse_args()

    import torch

    from onnxplain.export import exporter, graph, verify
    from tests.tiny_models import build_tiny_classifier

    torch.set_num_threads(1)
    print(f"torch {torch.__version__}; tiny models (hidden 32, 2 layers, 4 heads), every method")
    with tempfile.TemporaryDirectory() as scratch:
        for architecture in args.architectures.split(","):
            model_dir = build_tiny_classifier(Path(scratch) / architecture, architecture, seed=0)
            stages: dict[str, list[tuple[float, float]]] = defaultdict(list)
            original = graph.trace, graph.torch.onnx.export, verify.check_against_eager
            graph.trace = timed(stages, "trace", graph.trace)
            graph.torch.onnx.export = timed(stages, "write onnx", graph.torch.onnx.export)
            exporter_check = timed(stages, "check", verify.check_against_eager)
            verify.check_against_eager = exporter_check
            try:
                export = timed(stages, "total", exporter.export_model)
                for attempt in range(args.repeat):
                    export(model_dir, Path(scratch) / f"{architecture}-artifact-{attempt}")
            finally:
                graph.trace, graph.torch.onnx.export, verify.check_against_eager = original
            median = statistics.median
            figures = ", ".join(
                f"{name} {median(w for w, _ in spans):.1f} s ({median(c for _, c in spans):.1f} s cpu)"
                for name, spans in stages.items()
            )
            print(f"{architecture}: median of {args.repeat}, wall (processor): {figures}")


if __name__ == "__main__":
    main()
