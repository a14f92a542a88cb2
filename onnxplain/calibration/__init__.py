"""Head identification (SPEC §3): which attention heads are syntactic or positional, from a corpus.

Needs PyTorch, transformers and spaCy; the runtime never imports it. ``calibrate_for_export`` is what
``onnxplain export --calibration`` calls; ``onnxplain heads`` writes the same result to files.
"""

from onnxplain.calibration.calibrate import Calibration, calibrate, calibrate_for_export
from onnxplain.calibration.dependencies import RELATIONS
from onnxplain.calibration.selection import MODES, Thresholds, select_heads

__all__ = [
    "MODES",
    "RELATIONS",
    "Calibration",
    "Thresholds",
    "calibrate",
    "calibrate_for_export",
    "select_heads",
]
