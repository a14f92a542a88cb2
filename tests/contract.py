"""Check an exported artifact against the contract: its manifest.json against manifest.schema.json, and the
copy in model.onnx's metadata against manifest.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import onnx

from onnxplain.runtime.artifact import MANIFEST_FILE, METADATA_KEY, MODEL_FILE, manifest_schema


def schema_errors(manifest: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(manifest_schema())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(manifest)]


def assert_matches_contract(artifact: Path) -> dict[str, Any]:
    """The artifact's manifest, after checking it against the schema and the copy inside model.onnx."""
    manifest = json.loads((artifact / MANIFEST_FILE).read_text(encoding="utf-8"))
    errors = schema_errors(manifest)
    assert not errors, errors
    model = onnx.load(str(artifact / MODEL_FILE), load_external_data=False)
    stored = json.loads({p.key: p.value for p in model.metadata_props}[METADATA_KEY])
    assert stored == {k: v for k, v in manifest.items() if k != "files"}
    return manifest
