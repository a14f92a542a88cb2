"""What an artifact says about each of its methods: ``manifest["methods"][name]``.

The exporter writes one record per method from its registry (``onnxplain/export/registry.py``), so a
consumer reads method facts from the artifact, never from a table of its own. Manifests of formats 1 and 2
named each method's output only; their records are derived from the name (``FORMAT_2_METHODS``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from onnxplain.runtime.artifact.errors import ArtifactError

# The rule set whose backward pass a method's relevance comes from; "attention": none, it reads the
# attention probabilities of the forward pass.
RULE_SETS = ("chefer", "cp-lrp", "attnlrp", "gradient", "attention")

# What manifests of formats 1 and 2 (which describe no method) meant by each method name: (rule set, reads
# the head mask). Frozen with format 2: every method added since is described in the manifests that hold it.
FORMAT_2_METHODS: dict[str, tuple[str, bool]] = {
    "mask-lrp": ("chefer", True),
    "transatt": ("chefer", False),
    "attnlrp": ("attnlrp", False),
    "mask-attnlrp": ("attnlrp", True),
    "cp-lrp": ("cp-lrp", False),
    "mask-cp-lrp": ("cp-lrp", True),
    "cp-lrp-pad": ("cp-lrp", False),
    "cp-lrp-lookahead": ("cp-lrp", False),
    "grad-input": ("gradient", False),
    "full-lrp": ("chefer", False),
    "partial-lrp": ("chefer", False),
    "attcat": ("gradient", False),
    "attention-gradcam": ("gradient", False),
    "rollout": ("attention", False),
    "raw-attention": ("attention", False),
}
# The default method of a format-1 or -2 artifact: this one where it has it, else its first.
FORMAT_2_DEFAULT_METHOD = "mask-lrp"


@dataclass(frozen=True)
class MethodRecord:
    """One method of an artifact: its name, the graph output holding its [batch, sequence] relevance, the
    rule set it propagates with, whether it reads the ``head_mask`` input, and one line saying what it is."""

    name: str
    output: str
    rule_set: str
    reads_head_mask: bool
    description: str

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["name"]  # the key it is stored under
        return data

    @classmethod
    def from_json(cls, name: str, data: Any) -> MethodRecord:
        """A format-3 record; one ``ArtifactError`` naming the method for anything malformed."""
        fields = {"output": str, "rule_set": str, "reads_head_mask": bool, "description": str}
        if not isinstance(data, dict) or any(not isinstance(data.get(k), t) for k, t in fields.items()):
            raise ArtifactError(
                f"manifest.json describes method {name!r} without a string output, rule_set and description and "
                "a boolean reads_head_mask; re-export the model"
            )
        return cls(name, data["output"], data["rule_set"], data["reads_head_mask"], data["description"])


def format_2_record(name: str, output: str) -> MethodRecord:
    """The record of a method that a format-1 or -2 manifest names with its output only."""
    if name not in FORMAT_2_METHODS:
        raise ArtifactError(
            f"manifest.json names the method {name!r}, which no format-2 artifact had; re-export the model"
        )
    rule_set, reads_head_mask = FORMAT_2_METHODS[name]
    return MethodRecord(name, output, rule_set, reads_head_mask, "")


def read_method_records(methods: Any, version: int) -> dict[str, MethodRecord]:
    """``manifest["methods"]`` as records, in the manifest's order."""
    if not isinstance(methods, dict) or not methods:
        raise ArtifactError("manifest.json names no method; re-export the model")
    if version >= 3:
        return {name: MethodRecord.from_json(name, data) for name, data in methods.items()}
    for name, output in methods.items():
        if not isinstance(output, str):
            raise ArtifactError(f"manifest.json gives method {name!r} no output name; re-export the model")
    return {name: format_2_record(name, output) for name, output in methods.items()}


def format_2_default_method(methods: Mapping[str, MethodRecord]) -> str:
    return FORMAT_2_DEFAULT_METHOD if FORMAT_2_DEFAULT_METHOD in methods else next(iter(methods))
