"""Artifacts as older onnxplain versions wrote them, made from one the tests exported (format 3)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np


def manifest_as_format(manifest: dict[str, Any], version: int) -> dict[str, Any]:
    """A format-3 manifest in the layout of format 1 or 2: each method names its output only, and there is
    neither a default method nor file records (the explained position was already written at the top)."""
    old = dict(manifest, format_version=version)
    old["methods"] = {name: record["output"] for name, record in manifest["methods"].items()}
    del old["default_method"], old["files"]
    return old


def copy_as_format(artifact: Path, out: Path, version: int) -> Path:
    """A copy of ``artifact`` in format 1 or 2; format 1 also keeps the default head mask as an initializer of
    the graph's ``head_mask`` input."""
    import onnx
    from onnx import numpy_helper

    shutil.copytree(artifact, out)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    if version == 1:
        model = onnx.load(str(out / "model.onnx"))
        default = np.asarray(manifest["head_mask"]["default"], dtype=np.float32)
        model.graph.initializer.append(numpy_helper.from_array(default, name="head_mask"))
        onnx.save(model, str(out / "model.onnx"))
    old = manifest_as_format(manifest, version)
    (out / "manifest.json").write_text(json.dumps(old, indent=2) + "\n", encoding="utf-8")
    return out
