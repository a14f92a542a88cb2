"""Score curves saved by earlier runs (``evaluate --curves``) instead of computing them: runs on the same texts
with different methods are merged, runs on disjoint parts of a data set (same methods) are pooled text by
text, and either way the texts must be the ones this command selects from ``--data`` and the curves must have
been computed with this command's artifact (the sha256 of its ``model.onnx``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from onnxplain.errors import UserError
from onnxplain.evaluation.encoding import EncodedTexts
from onnxplain.evaluation.faithfulness import Curves


def saved_curves(paths: Sequence[Path], encoded: EncodedTexts, model_sha256: str | None = None) -> Curves:
    for path in paths:
        if not Path(path).is_file():
            raise UserError(f"{path} does not exist; pass curves.npz files written by onnxplain evaluate")
    runs = [Curves.load(path) for path in paths]
    if any(run.source_index is None for run in runs):
        raise UserError("a curves file lacks the texts' rows (an older evaluate wrote it); evaluate again")
    same_texts = all(np.array_equal(run.source_index, runs[0].source_index) for run in runs)  # type: ignore[arg-type]
    curves = Curves.merge(runs) if same_texts else Curves.load(*paths)
    if model_sha256 is not None and curves.model_sha256 not in (None, model_sha256):
        raise UserError(
            f"the saved curves were computed with another artifact (model.onnx sha256 {curves.model_sha256[:12]}..., "
            f"this one's {model_sha256[:12]}...); evaluate with the artifact that wrote them"
        )
    expected = np.asarray([t.source_index for t in encoded.texts])
    if curves.source_index is None or not np.array_equal(curves.source_index, expected):
        raise UserError(
            "the saved curves were computed on other texts than --data selects; "
            "pass the same --data, --limit and --min-tokens as the runs that wrote them"
        )
    return curves
