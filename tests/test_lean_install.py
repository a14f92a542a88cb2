"""The base install (numpy, onnx, onnxruntime, tokenizers, tqdm) explains on its own; a command whose extra is
missing says which extra to install, in one line."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# every module the base install does not bring: the export stack and the serve and plots extras
NOT_IN_BASE = ("torch", "transformers", "onnxplain.export", "starlette", "uvicorn", "fastapi", "pydantic",
               "matplotlib", "ray", "pyarrow")

BLOCKED_CLI = textwrap.dedent(
    f"""
    import sys

    BLOCKED = {NOT_IN_BASE!r}

    class Block:
        def find_spec(self, name, path=None, target=None):
            if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, Block())
    from onnxplain.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def run_without_extras(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKED_CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_the_base_install_explains_from_the_command_line(tiny_artifact: Path) -> None:
    done = run_without_extras("explain", str(tiny_artifact), "A gripping film.", "--format", "json")
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)["results"]
    assert result["text"] == "A gripping film." and result["tokens"]


def test_a_command_without_its_extra_names_the_pip_install(tiny_artifact: Path) -> None:
    done = run_without_extras("serve", str(tiny_artifact), "--port", "0")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "pip install 'onnxplain[serve]'" in lines[0] and lines[0].startswith("onnxplain serve: error:")
