"""Sequence classification (``manifest.task == "sequence-classification"``): texts in, one label out.

Inputs are texts; the graph's ``target`` is int64 ``[batch]``, the index of the label to explain (-1: the
predicted one), its ``logits`` float32 ``[batch, labels]``; the explained position is the one the classifier
reads (the first token for encoders, the last real token for decoders). A caller names a label by its name or
its index, one for all texts or one per text. The result is an ``Explanation`` (``results``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from onnxplain.errors import UserError
from onnxplain.runtime.artifact import PREDICTED_TARGET, Manifest
from onnxplain.runtime.results import Explanation, explanation
from onnxplain.runtime.server_limits import ServerLimits
from onnxplain.runtime.tasks.schema_parts import WORDS, method_schema, span_schema, text_schema
from onnxplain.runtime.tasks.task import Task
from onnxplain.runtime.tokenization import TextEncoding, TextTokenizer

Label = str | int | None
SHOWN_LABELS = 10  # labels listed in an error (a language model's are its vocabulary)
TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson")  # read by column; any other --file is one text a line


class SequenceClassification(Task):
    name: ClassVar[str] = "sequence-classification"
    explained_position: ClassVar[str] = "the token the classification head reads (first, or last real token)"
    item_noun: ClassVar[str] = "text"
    strings_per_item: ClassVar[int] = 1
    evaluation: ClassVar[str] = "perturbation"

    def __init__(self, manifest: Manifest, tokenizer_file: Path, max_length: int) -> None:
        super().__init__(manifest, tokenizer_file, max_length)
        self._tokenizer = TextTokenizer(tokenizer_file, max_length)
        self._index_of: dict[str, int] = {}  # label name -> its first index (a vocabulary may repeat a name)
        for index, name in sorted(manifest.labels.items()):
            self._index_of.setdefault(name, index)

    def items(self, inputs: Any) -> list[str]:
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise UserError(f"text {index} is a {type(text).__name__}, not a string; pass strings")
            if not text.strip():
                raise UserError(f"text {index} is empty; give each text at least one word")
        return texts

    def encode(self, items: Sequence[str]) -> list[TextEncoding]:
        return self._tokenizer.encode(items)

    def label_index(self, label: str | int) -> int:
        """A label given by name (names first: a label may be called "1") or by index (digits allowed)."""
        labels = self.manifest.labels
        if isinstance(label, str) and label in self._index_of:
            return self._index_of[label]
        if isinstance(label, int | np.integer) or (isinstance(label, str) and label.isdigit()):
            if int(label) in labels:
                return int(label)
        shown = ", ".join(f"{i} ({n})" for i, n in sorted(labels.items())[:SHOWN_LABELS])
        more = f", … ({len(labels)} in all)" if len(labels) > SHOWN_LABELS else ""
        raise UserError(
            f"unknown label {label!r}; this model's labels are {shown}{more}; pass one of them as the target"
        )

    def targets(self, target: Label | Sequence[Label], encodings: Sequence[Any]) -> np.ndarray:
        """Label indices (-1 = predicted) from None, a label (name or index), or one label per text."""
        count = len(encodings)
        if target is None or isinstance(target, str | int | np.integer):
            labels: list[Label] = [target] * count
        else:
            labels = list(target)
            if len(labels) != count:
                raise UserError(f"{len(labels)} targets were given for {count} texts; give one per text")
        for label in labels:
            if isinstance(label, bool) or not (label is None or isinstance(label, str | int | np.integer)):
                raise UserError(f"target {label!r} is not a label name or index; pass one, or None (predicted)")
        indices = [PREDICTED_TARGET if label is None else self.label_index(label) for label in labels]
        return np.asarray(indices, dtype=np.int64)

    def check_target(self, target: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
        batch = shape[0]
        if target is None:
            return np.full(batch, PREDICTED_TARGET, dtype=np.int64)
        target = np.ascontiguousarray(target, dtype=np.int64).reshape(-1)
        count = len(self.manifest.labels)
        if target.shape != (batch,) or np.any((target < PREDICTED_TARGET) | (target >= count)):
            raise UserError(
                f"target must hold one label index per example (0..{count - 1}, or -1 for the "
                f"predicted label), got {target.tolist()}"
            )
        return target

    def result(
        self,
        encoding: TextEncoding,
        logits: np.ndarray,
        relevance: np.ndarray,
        target: np.ndarray,
        method: str,
        metadata: dict[str, Any],
    ) -> Explanation:
        return explanation(encoding, relevance, logits, int(target), method, self.manifest.labels, metadata)

    def render(self, results: Sequence[Any], fmt: str, color: bool = True) -> str:
        from onnxplain.runtime.render import render

        return render(results, fmt, color=color)

    def label_schema(self) -> dict[str, Any]:
        """A label by name or index, or null for the predicted one."""
        names = list(dict.fromkeys(self.manifest.labels.values()))
        return {
            "description": "the label to explain, by name or index; null or absent: the predicted one",
            "anyOf": [
                {"type": "string", "enum": names},
                {"type": "integer", "minimum": 0, "maximum": max(self.manifest.labels)},
                {"type": "null"},
            ],
        }

    def request_schema(self, methods: Sequence[str], default_method: str, limits: ServerLimits) -> dict[str, Any]:
        text = text_schema(limits)
        label = self.label_schema()
        method = method_schema(methods, default_method)
        own_target = {
            "type": "object",
            "additionalProperties": False,
            "required": ["text"],
            "properties": {"text": text, "target": label},
            "description": "a text with its own target",
        }
        many = {"type": "array", "items": {"anyOf": [text, own_target]}, "minItems": 1, "maxItems": limits.max_texts}
        first = self.manifest.labels[min(self.manifest.labels)]
        return {
            "description": 'one text, or a list of texts (each a string, or {"text": ..., "target": ...} to give it '
            'its own target); "target" applies to every text that has none of its own',
            "examples": [
                {"text": "A gripping, beautifully shot film."},
                {"texts": [{"text": "A gripping film.", "target": first}], "method": default_method},
            ],
            "oneOf": [
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["text"],
                    "properties": {"text": text, "method": method, "target": label},
                },
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["texts"],
                    "properties": {"texts": many, "method": method, "target": label},
                },
            ],
        }

    def request_shape(self) -> str:
        return '{"text": "..."} or {"texts": ["...", ...]}'

    def request_items(self, payload: dict[str, Any]) -> tuple[list[str], list[Label]]:
        default = payload.get("target")
        if "text" in payload:
            return [payload["text"]], [_whole(default)]
        texts, targets = [], []
        for item in payload["texts"]:
            if isinstance(item, dict):
                texts.append(item["text"])
                targets.append(item.get("target", default))
            else:
                texts.append(item)
                targets.append(default)
        return texts, [_whole(t) for t in targets]

    def result_schema(self) -> dict[str, Any]:
        properties = {
            "text": {"type": "string"},
            "method": {"type": "string"},
            "label": {"type": "string", "description": "the predicted label"},
            "target": {"type": "string", "description": "the explained label"},
            "probabilities": {"type": "object", "additionalProperties": {"type": "number"}},
            "tokens": {"type": "array", "items": span_schema({"special": {"type": "boolean"}})},
            "words": WORDS,
            "truncated": {"type": "boolean", "description": "the text was cut to the model's token limit"},
            "warnings": {"type": "array", "items": {"type": "string"}},
            "metadata": {"type": "object"},
        }
        return {"type": "object", "required": list(properties), "properties": properties}

    def cli_items(self, args: argparse.Namespace) -> list[str]:
        if args.question or args.context:
            raise UserError(
                f"this artifact is a {self.name} model and explains texts, not questions; "
                "pass texts (or --file) without --question/--context"
            )
        return read_texts(args)

    def cli_target(self, value: str | None) -> Label:
        """A label name, or the index it spells when no label has that name."""
        if value is not None and value.isdigit() and value not in self._index_of:
            return int(value)
        return value


def _whole(label: Label | float) -> Label:
    """A label index sent as a JSON number with no fraction (``1.0``) is the integer it equals."""
    return int(label) if isinstance(label, float) else label


def read_texts(args: argparse.Namespace) -> list[str]:
    """The texts of ``onnxplain explain``: its arguments, then the lines (or the text column) of ``--file``."""
    texts = list(args.texts)
    if args.file is not None and args.file.suffix.lower() in TABLE_SUFFIXES:
        from onnxplain.corpus import Column, read_rows

        column = Column(args.text_column or "text", implicit=args.text_column is None)
        texts += [row.values[0] for row in read_rows(args.file, [column], what="text file") if row.values[0].strip()]
    elif args.file is not None:
        try:
            lines = args.file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise UserError(f"cannot read {args.file} ({error}); pass a UTF-8 text file, one text per line") from None
        texts += [line for line in lines if line.strip()]
    if not texts:
        raise UserError("no text to explain; pass texts as arguments or a file with --file")
    return texts
