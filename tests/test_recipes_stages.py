"""Cached build stages: reuse, nothing left behind by a failed stage, and code fingerprints that ignore
formatting but not code changes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from onnxplain.recipes.stages import cached_stage, code_fingerprint, stage_key


def test_stage_is_produced_once_then_reused(tmp_path: Path) -> None:
    calls: list[Path] = []

    def produce(staging: Path) -> dict:
        calls.append(staging)
        (staging / "weights.bin").write_bytes(b"1234")
        return {"accuracy": 0.8}

    folder, record, reused = cached_stage(tmp_path / "stage-a", produce)
    assert (record, reused) == ({"accuracy": 0.8}, False)
    assert (folder / "weights.bin").read_bytes() == b"1234"
    folder, record, reused = cached_stage(tmp_path / "stage-a", produce)
    assert (record, reused, len(calls)) == ({"accuracy": 0.8}, True, 1)


def test_failed_stage_leaves_nothing(tmp_path: Path) -> None:
    def produce(staging: Path) -> dict:
        (staging / "half-written").write_text("x")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        cached_stage(tmp_path / "stage-b", produce)
    assert list(tmp_path.iterdir()) == []


def test_code_fingerprint_ignores_formatting_but_not_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "onnxplain_stage_probe.py"
    monkeypatch.syspath_prepend(str(tmp_path))
    module.write_text("def rate():\n    return 1e-4\n")
    first = code_fingerprint(["onnxplain_stage_probe"])
    module.write_text("# a comment\ndef rate( ):\n\n    return 1e-4  # same code\n")
    assert code_fingerprint(["onnxplain_stage_probe"]) == first
    module.write_text("def rate():\n    return 5e-5\n")
    assert code_fingerprint(["onnxplain_stage_probe"]) != first
    sys.modules.pop("onnxplain_stage_probe", None)


def test_stage_key_depends_on_every_part() -> None:
    assert stage_key("a", 1) == stage_key("a", 1)
    assert stage_key("a", 1) != stage_key("a", 2)
