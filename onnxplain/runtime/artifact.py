"""The explainer artifact: the one place where its format is defined.

An artifact is a directory::

    model.onnx       the explain graph (weights inside, or beside it as ONNX external data)
    tokenizer.json   a Hugging Face `tokenizers` file
    manifest.json    what is described below (also stored in model.onnx's metadata under "onnxplain")

Graph inputs, in this order (names listed in ``manifest["inputs"]``):

    input_ids       int64   [batch, sequence]
    attention_mask  int64   [batch, sequence]   1 = real token, 0 = padding
    token_type_ids  int64   [batch, sequence]   only for architectures that have segment embeddings
    target          int64   [batch]             class to explain; -1 explains the predicted class
    head_mask       float32 [layers, heads]     1 = head keeps its relevance (Mask-LRP); required
                                                since version 2: feed manifest["head_mask"]["default"]
                                                unless overriding it (version 1 stored that default as an
                                                initializer, which not every ONNX Runtime binding honours)

Graph outputs: ``logits`` float32 [batch, labels] and, for every method, one float32 [batch, sequence]
relevance tensor named in ``manifest["methods"]`` (method name -> output name). Padding gets zero
relevance. Every output of an example depends on that example alone, never on the rest of its batch.

The writer of this format lives in ``onnxplain.export``; everything else only reads it, through here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onnxplain.errors import UserError

FORMAT_VERSION = 2
# Versions this runtime reads: 1 differs only in giving head_mask an initializer default in the graph.
READABLE_FORMAT_VERSIONS = (1, 2)
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "manifest.json"
METADATA_KEY = "onnxplain"

INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"
TOKEN_TYPE_IDS = "token_type_ids"
TARGET = "target"
HEAD_MASK = "head_mask"
LOGITS = "logits"
PREDICTED_TARGET = -1

# Every explanation method, in the order reports list them. The paper's method first.
METHODS: tuple[str, ...] = (
    "mask-lrp",
    "transatt",
    "attnlrp",
    "mask-attnlrp",
    "cp-lrp",
    "mask-cp-lrp",
    "cp-lrp-pad",
    "cp-lrp-lookahead",
    "grad-input",
    "full-lrp",
    "partial-lrp",
    "attcat",
    "attention-gradcam",
    "rollout",
    "raw-attention",
)

# Methods whose output reads the head_mask input; all others ignore it.
HEAD_MASKED_METHODS: frozenset[str] = frozenset({"mask-lrp", "mask-attnlrp", "mask-cp-lrp"})


def relevance_output_name(method: str) -> str:
    """ONNX output name of a method's relevance, e.g. ``mask-lrp`` -> ``relevance_mask_lrp``."""
    return "relevance_" + method.replace("-", "_")


class ArtifactError(UserError):
    """An artifact directory is missing, incomplete, or of a format this version cannot read."""


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.json`` holds. Unknown keys are kept in ``extra`` and written back unchanged."""

    architecture: str
    task: str
    labels: dict[int, str]
    inputs: list[str]
    methods: dict[str, str]
    head_mask: dict[str, Any]
    max_length: int
    num_layers: int
    num_heads: int
    pad_token_id: int
    format_version: int = FORMAT_VERSION
    versions: dict[str, str] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def default_head_mask(self) -> list[list[float]]:
        return self.head_mask["default"]

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

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format_version": self.format_version,
            "architecture": self.architecture,
            "task": self.task,
            "labels": {str(i): n for i, n in sorted(self.labels.items())},
            "inputs": list(self.inputs),
            "outputs": {"logits": LOGITS},
            "methods": dict(self.methods),
            "head_mask": self.head_mask,
            "max_length": self.max_length,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "pad_token_id": self.pad_token_id,
            "versions": self.versions,
            "source": self.source,
        }
        data.update(self.extra)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        version = data.get("format_version")
        if version not in READABLE_FORMAT_VERSIONS:
            readable = ", ".join(map(str, READABLE_FORMAT_VERSIONS))
            raise ArtifactError(
                f"artifact format version {version!r} is not supported by this onnxplain "
                f"(it reads versions {readable}); re-export the model with this version"
            )
        known = {f for f in cls.__dataclass_fields__ if f != "extra"} | {"outputs"}
        try:
            return cls(
                architecture=data["architecture"],
                task=data["task"],
                labels={int(i): str(n) for i, n in data["labels"].items()},
                inputs=list(data["inputs"]),
                methods=dict(data["methods"]),
                head_mask=dict(data["head_mask"]),
                max_length=int(data["max_length"]),
                num_layers=int(data["num_layers"]),
                num_heads=int(data["num_heads"]),
                pad_token_id=int(data["pad_token_id"]),
                format_version=version,
                versions=dict(data.get("versions", {})),
                source=dict(data.get("source", {})),
                extra={k: v for k, v in data.items() if k not in known},
            )
        except KeyError as missing:
            raise ArtifactError(
                f"manifest.json lacks the required key {missing}; re-export the model"
            ) from None


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
            raise ArtifactError(
                f"{root} has no {name}; it is not a complete onnxplain artifact, re-export it"
            )
    try:
        data = json.loads((root / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ArtifactError(
            f"{root / MANIFEST_FILE} is not valid JSON ({error}); re-export the model"
        ) from None
    return Manifest.from_json(data)
