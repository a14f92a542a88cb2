"""The tests' tiny artifact (a 2-layer random BERT classifier, every method) for the engine benchmarks.

python benchmarks/tiny_artifact.py OUT_DIR      # needs the export extra (PyTorch); about a minute
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def build(out: Path) -> Path:
    from onnxplain.export import export_model
    from tests.tiny_models import build_tiny_classifier

    with tempfile.TemporaryDirectory() as scratch:
        model = build_tiny_classifier(Path(scratch), "bert", seed=0)
        return export_model(model, out)


if __name__ == "__main__":
    print(build(Path(sys.argv[1])))
