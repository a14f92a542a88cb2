"""The artifact's files as its manifest records them (``manifest["files"]``: size and sha256 of model.onnx,
its external data if any, and tokenizer.json), and the check that they are still what was exported.

The check is against damage (a truncated copy, a partial download, an edited or swapped file), not a
signature: whoever can change a file can change the manifest too. A size that differs fails at once; the
sha256 is then computed once per file version: a file whose size, modification time, change time and inode
are unchanged since it was last verified in this process is not hashed again (hashing runs at about
5 ms per MB here, a few percent of loading the model; see docs/artifact-contract.md).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from onnxplain.runtime.artifact.errors import ArtifactError

CHUNK_BYTES = 1 << 20
_verified: dict[tuple[str, int, int, int, int], str] = {}  # (path, size, mtime, ctime, inode) -> sha256
_lock = threading.Lock()


@dataclass(frozen=True)
class FileRecord:
    bytes: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, name: str, data: Any) -> FileRecord:
        size = data.get("bytes") if isinstance(data, dict) else None
        digest = data.get("sha256") if isinstance(data, dict) else None
        if not isinstance(size, int) or not isinstance(digest, str) or len(digest) != 64:
            raise ArtifactError(
                f"manifest.json records {name} without its size in bytes and its sha256 (64 hex digits); "
                "re-export the model"
            )
        return cls(size, digest.lower())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def record_files(directory: Path, names: Iterable[str]) -> dict[str, FileRecord]:
    """Size and sha256 of each named file of ``directory`` (for the exporter)."""
    records = {}
    for name in names:
        path = Path(directory) / name
        records[name] = FileRecord(path.stat().st_size, sha256_of(path))
    return records


def _version_key(path: Path) -> tuple[str, int, int, int, int]:
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)


def verify_files(directory: str | Path, files: Mapping[str, FileRecord]) -> None:
    """Check every recorded file of an artifact; one ``ArtifactError`` naming the file and the fix."""
    root = Path(directory)
    for name, record in files.items():
        path = root / name
        if not path.is_file():
            raise ArtifactError(
                f"{root} has no {name}, which its manifest lists; copy the whole artifact directory or re-export it"
            )
        size = os.path.getsize(path)
        if size != record.bytes:
            raise ArtifactError(
                f"{path} holds {size} bytes where the manifest records {record.bytes}: it is truncated or was "
                "replaced; copy the artifact again or re-export it"
            )
        key = _version_key(path)
        with _lock:
            known = _verified.get(key)
        if known == record.sha256:
            continue
        digest = sha256_of(path)
        if digest != record.sha256:
            raise ArtifactError(
                f"{path} is not the file that was exported (its sha256 differs from the manifest's): it was "
                "altered or damaged; copy the artifact again or re-export it"
            )
        with _lock:
            _verified[key] = digest
