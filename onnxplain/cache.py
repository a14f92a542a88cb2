"""Where onnxplain keeps what it builds or measures once per machine (models, data, memory probes)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$ONNXPLAIN_CACHE``, else ``$XDG_CACHE_HOME/onnxplain``, else ``~/.cache/onnxplain``."""
    if os.environ.get("ONNXPLAIN_CACHE"):
        return Path(os.environ["ONNXPLAIN_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "onnxplain"
