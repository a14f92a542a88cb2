"""A build stage cached on disk: a folder named by a hash of everything that decides its contents.

A stage's folder is written under a temporary name and renamed when complete, so an interrupted build
leaves nothing that a later build could mistake for a finished stage.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

DONE_FILE = "stage.json"


def code_fingerprint(modules: Iterable[str]) -> str:
    """A hash of the code of the named packages or modules, so that a code change invalidates a stage.
    It hashes each file's syntax tree, so reformatting or editing comments invalidates nothing."""
    import ast
    import importlib.util

    digest = hashlib.sha256()
    for name in sorted(modules):
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            digest.update(f"{name}:missing".encode())
            continue
        origin = Path(spec.origin)
        files = sorted(origin.parent.rglob("*.py")) if origin.name == "__init__.py" else [origin]
        for path in files:
            digest.update(path.name.encode())
            digest.update(ast.dump(ast.parse(path.read_text(encoding="utf-8"))).encode())
    return digest.hexdigest()[:16]


def stage_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def cached_stage(folder: Path, produce: Callable[[Path], dict[str, Any]]) -> tuple[Path, dict[str, Any], bool]:
    """The stage's folder and its record, produced by ``produce(staging_folder) -> record`` unless a
    finished copy is already there. Returns ``(folder, record, reused)``."""
    done = folder / DONE_FILE
    if done.is_file():
        return folder, json.loads(done.read_text(encoding="utf-8")), True
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        record = produce(staging)
        (staging / DONE_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if done.is_file():  # another build finished the same stage meanwhile: keep the first result
            return folder, json.loads(done.read_text(encoding="utf-8")), True
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder, record, False


def copy_tree(source: Path, target: Path) -> None:
    """Replace ``target`` with a copy of ``source`` (a copy, not links: editing the output must never
    change the cache)."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)


def directory_size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
