"""Measured working memory kept on disk, so that an artifact is probed once per machine, not at every load.

One JSON file per model file, named by the sha256 of ``model.onnx``, under ``<cache>/memory/`` (the user's
onnxplain cache folder, ``onnxplain.cache.cache_dir``); inside, one entry per ONNX Runtime version, device
and memory setting (each changes what a call costs), holding each probed method's ``WorkingMemory``. A cache
that cannot be read or written is ignored: the probe runs again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path

import onnxruntime as ort

from onnxplain.cache import cache_dir
from onnxplain.runtime.memory_model import PROBE_VERSION, WorkingMemory

CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class ProbeCache:
    """The stored working memory of one model file under one runtime setting (``setting``: device and
    memory settings in words)."""

    def __init__(self, model_file: Path, setting: str, folder: Path | None = None) -> None:
        self.path = (folder or cache_dir() / "memory") / f"{file_sha256(model_file)}.json"
        self.entry = f"onnxruntime {ort.__version__}; {setting}; probe {PROBE_VERSION}"
        self._lock = threading.Lock()

    def _read_all(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def read(self) -> dict[str, WorkingMemory]:
        stored = self._read_all().get(self.entry, {})
        models = {}
        for method, data in stored.items() if isinstance(stored, dict) else ():
            try:
                models[method] = WorkingMemory.from_json(data)
            except (KeyError, TypeError, ValueError):
                continue  # an entry written by another version: probe again
        return models

    def write(self, method: str, model: WorkingMemory) -> None:
        """Add one method's model, keeping everything else the file holds (written whole, then renamed)."""
        with self._lock:
            data = self._read_all()
            entry = data.get(self.entry)
            entry = entry if isinstance(entry, dict) else {}
            entry[method] = model.to_json()
            data[self.entry] = entry
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
                with os.fdopen(handle, "w", encoding="utf-8") as file:
                    json.dump(data, file, indent=1)
                os.replace(temporary, self.path)
            except OSError:
                return  # a read-only cache: measured again next time
