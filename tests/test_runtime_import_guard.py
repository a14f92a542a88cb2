"""The runtime must import with torch, transformers and onnxplain.export unavailable."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

GUARD = textwrap.dedent(
    """
    import importlib, pkgutil, sys

    BLOCKED = ("torch", "transformers", "onnxplain.export")

    class Block:
        def find_spec(self, name, path=None, target=None):
            if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                raise ImportError(f"the runtime imported {name}")
            return None

    sys.meta_path.insert(0, Block())
    import onnxplain.runtime
    modules = [m.name for m in pkgutil.walk_packages(onnxplain.runtime.__path__, "onnxplain.runtime.")]
    for name in modules:
        importlib.import_module(name)
    import onnxplain.cli
    onnxplain.cli.build_parser(["explain"])
    onnxplain.cli.build_parser(["serve"])
    leaked = [m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in BLOCKED)]
    assert not leaked, leaked
    print(len(modules))
    """
)


def test_runtime_imports_without_torch_transformers_or_export() -> None:
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", GUARD], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip()) >= 10  # every runtime module was imported, renderers and server included


def test_the_guard_does_catch_a_forbidden_import() -> None:
    root = Path(__file__).resolve().parents[1]
    code = GUARD.replace("import onnxplain.runtime\n", "import onnxplain.runtime\nimport transformers\n", 1)
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "the runtime imported transformers" in done.stderr
