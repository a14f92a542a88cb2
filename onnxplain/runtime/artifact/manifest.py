"""``Manifest``: ``manifest.json`` read into Python and written back, for every readable format version.

The JSON Schema ``manifest.schema.json`` beside this module is the contract of format 3 for consumers in any
language; this reader checks the same required keys and types by hand (the runtime does not depend on a
JSON Schema validator), and a test holds the two together.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onnxplain.runtime.artifact.errors import ArtifactError
from onnxplain.runtime.artifact.files import FileRecord
from onnxplain.runtime.artifact.layout import (
    EXPLAINED_POSITIONS,
    FIRST_TOKEN,
    FORMAT_VERSION,
    LOGITS,
    MANIFEST_FILE,
    MODEL_FILE,
    READABLE_FORMAT_VERSIONS,
    TOKENIZER_FILE,
)
from onnxplain.runtime.artifact.methods import MethodRecord, format_2_default_method, read_method_records

# keys of every version, then those format 3 added
REQUIRED = (
    "format_version",
    "architecture",
    "task",
    "labels",
    "inputs",
    "methods",
    "head_mask",
    "max_length",
    "num_layers",
    "num_heads",
    "pad_token_id",
)
REQUIRED_SINCE_3 = ("outputs", "default_method", "explained_position", "files")


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.json`` holds. Unknown keys are kept in ``extra`` and written back unchanged."""

    architecture: str
    task: str
    labels: dict[int, str]
    inputs: list[str]
    methods: dict[str, MethodRecord]
    head_mask: dict[str, Any]
    max_length: int
    num_layers: int
    num_heads: int
    pad_token_id: int
    default_method: str
    explained_position: str = FIRST_TOKEN
    files: dict[str, FileRecord] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    versions: dict[str, str] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def precision(self) -> str:
        """``fp32``, or ``int8`` / ``fp16`` for a reduced-precision artifact (its ``fidelity`` says how close
        it stays to fp32; see the package docstring)."""
        return str(self.extra.get("precision", "fp32"))

    def not_recommended(self, method: str) -> str | None:
        """Why ``method`` should be explained with the fp32 artifact instead, or None: a reduced-precision
        artifact whose fidelity measurement marked the method not recommended (``fidelity.methods[m]``). The
        sentence is the same in every binding (the numbers stay in the manifest)."""
        measured = self.extra.get("fidelity", {}).get("methods", {}).get(method)
        if self.precision == "fp32" or not measured or measured.get("recommended", True):
            return None
        return (
            f"{method} is not recommended on this {self.precision} artifact: its relevance fell short of the fp32 "
            "artifact's on held-out texts (manifest fidelity); explain it with the fp32 artifact"
        )

    @property
    def default_head_mask(self) -> list[list[float]]:
        return self.head_mask["default"]

    def output_name(self, method: str) -> str:
        """The graph output holding ``method``'s relevance."""
        return self.methods[method].output

    def label_index(self, label: str | int) -> int:
        """Index of a label given by name or index; raises ``KeyError`` with the known labels."""
        if isinstance(label, int) or (isinstance(label, str) and label.lstrip("-").isdigit()):
            index = int(label)
            if index in self.labels:
                return index
        else:
            for index, name in self.labels.items():
                if name == label:
                    return index
        known = ", ".join(f"{i} ({n})" for i, n in sorted(self.labels.items()))
        raise KeyError(f"unknown label {label!r}; this model's labels are {known}")

    def to_json(self, with_files: bool = True) -> dict[str, Any]:
        """The JSON of ``manifest.json`` in the layout of ``format_version``; ``with_files=False`` leaves out
        the file records (the copy stored inside model.onnx, whose own sha256 it cannot hold)."""
        data: dict[str, Any] = {
            "format_version": self.format_version,
            "architecture": self.architecture,
            "task": self.task,
            "explained_position": self.explained_position,
            "labels": {str(i): n for i, n in sorted(self.labels.items())},
            "inputs": list(self.inputs),
            "outputs": {"logits": LOGITS},
            "methods": {name: record.to_json() for name, record in self.methods.items()},
            "default_method": self.default_method,
            "head_mask": self.head_mask,
            "max_length": self.max_length,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "pad_token_id": self.pad_token_id,
            "files": {name: record.to_json() for name, record in self.files.items()},
            "versions": self.versions,
            "source": self.source,
        }
        if self.format_version < 3:  # as formats 1 and 2 were written
            data["methods"] = {name: record.output for name, record in self.methods.items()}
            del data["default_method"], data["files"]
        if not with_files:
            data.pop("files", None)
        data.update(self.extra)
        return data

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        """Read any readable format; every problem ends in one ``ArtifactError``."""
        if not isinstance(data, dict):
            raise ArtifactError("manifest.json does not hold a JSON object; re-export the model")
        if "format_version" not in data:
            raise ArtifactError("manifest.json lacks the required key 'format_version'; re-export the model")
        version = check_version(data["format_version"])
        missing = [k for k in REQUIRED + (REQUIRED_SINCE_3 if version >= 3 else ()) if k not in data]
        if missing:
            raise ArtifactError(f"manifest.json lacks the required key {missing[0]!r}; re-export the model")
        methods = read_method_records(data["methods"], version)
        default_method = data["default_method"] if version >= 3 else format_2_default_method(methods)
        if default_method not in methods:
            raise ArtifactError(
                f"manifest.json's default method {default_method!r} is not one of its methods; re-export the model"
            )
        explained_position = data.get("explained_position", FIRST_TOKEN)  # format 1-2 artifacts without it:
        if explained_position not in EXPLAINED_POSITIONS:  # encoder classifiers, read at token 0
            raise ArtifactError(
                f"manifest.json's explained_position {explained_position!r} is none of "
                f"{', '.join(EXPLAINED_POSITIONS)}; re-export the model"
            )
        files = data.get("files", {})
        if not isinstance(files, dict) or (version >= 3 and not {MODEL_FILE, TOKENIZER_FILE} <= files.keys()):
            raise ArtifactError(
                f"manifest.json does not record {MODEL_FILE} and {TOKENIZER_FILE} under files; re-export the model"
            )
        known = set(REQUIRED + REQUIRED_SINCE_3) | {"outputs", "versions", "source"}
        try:
            return cls(
                architecture=str(data["architecture"]),
                task=str(data["task"]),
                labels={int(i): str(n) for i, n in data["labels"].items()},
                inputs=[str(name) for name in data["inputs"]],
                methods=methods,
                head_mask=dict(data["head_mask"]),
                max_length=int(data["max_length"]),
                num_layers=int(data["num_layers"]),
                num_heads=int(data["num_heads"]),
                pad_token_id=int(data["pad_token_id"]),
                default_method=default_method,
                explained_position=explained_position,
                files={name: FileRecord.from_json(name, record) for name, record in files.items()},
                format_version=version,
                versions=dict(data.get("versions", {})),
                source=dict(data.get("source", {})),
                extra={k: v for k, v in data.items() if k not in known},
            )
        except (AttributeError, TypeError, ValueError) as error:
            raise ArtifactError(
                f"manifest.json holds a value of the wrong type ({error}); re-export the model"
            ) from None


def check_version(version: Any) -> int:
    """The format version, or one sentence saying this onnxplain cannot read it."""
    readable = ", ".join(map(str, READABLE_FORMAT_VERSIONS))
    if isinstance(version, int) and not isinstance(version, bool) and version > max(READABLE_FORMAT_VERSIONS):
        raise ArtifactError(
            f"artifact format version {version} is newer than this onnxplain reads (versions {readable}); "
            "upgrade onnxplain or re-export the model with this version"
        )
    if version not in READABLE_FORMAT_VERSIONS or isinstance(version, bool):
        raise ArtifactError(
            f"artifact format version {version!r} is not one this onnxplain reads (versions {readable}); "
            "re-export the model with this version"
        )
    return int(version)


def write_manifest(directory: Path, manifest: Manifest) -> Path:
    path = Path(directory) / MANIFEST_FILE
    path.write_text(json.dumps(manifest.to_json(), indent=2) + "\n", encoding="utf-8")
    return path


def read_manifest(directory: str | Path) -> Manifest:
    """Read and validate an artifact directory's manifest; every problem ends in one ``ArtifactError``."""
    root = Path(directory)
    if not root.is_dir():
        raise ArtifactError(f"{root} is not a directory; pass the directory that `onnxplain export` wrote")
    for name in (MODEL_FILE, TOKENIZER_FILE, MANIFEST_FILE):
        if not (root / name).is_file():
            raise ArtifactError(f"{root} has no {name}; it is not a complete onnxplain artifact, re-export it")
    try:
        data = json.loads((root / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ArtifactError(f"{root / MANIFEST_FILE} is not valid JSON ({error}); re-export the model") from None
    return Manifest.from_json(data)
