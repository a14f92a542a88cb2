"""Read a labelled text file (CSV, TSV or JSON lines) into texts and label indices of an artifact's model."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onnxplain.errors import UserError
from onnxplain.runtime.artifact import Manifest

DELIMITED = {".csv": ",", ".tsv": "\t"}
JSON_LINES = {".jsonl", ".ndjson"}


@dataclass(frozen=True)
class LabelledText:
    text: str
    label: int  # index into the manifest's labels


def read_labelled_texts(
    path: str | Path,
    manifest: Manifest,
    *,
    text_column: str = "text",
    label_column: str = "label",
) -> list[LabelledText]:
    """Every row of ``path`` as a text and a label index.

    Labels may be names or indices of the model's labels. A CSV or TSV file either has a header row that
    names the two columns, or has none and the columns are given as 0-based indices (``"1"``, ``"0"``).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"data file {path} does not exist; pass a CSV, TSV or JSONL file with --data")
    suffix = path.suffix.lower()
    if suffix in DELIMITED:
        rows = _delimited_rows(path, DELIMITED[suffix], text_column, label_column)
    elif suffix in JSON_LINES:
        rows = _json_rows(path, text_column, label_column)
    else:
        raise UserError(f"{path} has the unknown extension {suffix!r}; use .csv, .tsv or .jsonl")
    examples = []
    for line, text, label in rows:
        try:
            index = manifest.label_index(label.strip() if isinstance(label, str) else label)
        except KeyError as error:
            raise UserError(f"{path}:{line}: {error.args[0]}; fix the label or pass --label-column") from None
        examples.append(LabelledText(text=text, label=index))
    if not examples:
        raise UserError(f"{path} holds no examples; pass a file with at least one labelled text")
    return examples


def _delimited_rows(path: Path, delimiter: str, text_column: str, label_column: str) -> Iterator[tuple[int, str, str]]:
    # utf-8-sig drops the byte-order mark some exported CSV files start with
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        if text_column.isdigit() and label_column.isdigit():
            text_at, label_at, first_line = int(text_column), int(label_column), 1
        else:
            header = next(reader, [])
            if text_column not in header or label_column not in header:
                raise UserError(
                    f"{path}'s header {header} lacks the column {text_column!r} or {label_column!r}; "
                    "name them with --text-column and --label-column (0-based indices for a file without "
                    "a header)"
                )
            text_at, label_at, first_line = header.index(text_column), header.index(label_column), 2
        for line, row in enumerate(reader, start=first_line):
            if not row:
                continue
            if max(text_at, label_at) >= len(row):
                raise UserError(f"{path}:{line} has {len(row)} columns, too few; fix or remove that row")
            yield line, row[text_at], row[label_at]


def _json_rows(path: Path, text_column: str, label_column: str) -> Iterator[tuple[int, str, Any]]:
    with path.open(encoding="utf-8-sig") as handle:
        for line, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as error:
                raise UserError(f"{path}:{line} is not valid JSON ({error.msg}); fix that line") from None
            if not isinstance(record, dict) or text_column not in record or label_column not in record:
                raise UserError(
                    f"{path}:{line} lacks the key {text_column!r} or {label_column!r}; "
                    "name them with --text-column and --label-column"
                )
            yield line, str(record[text_column]), record[label_column]
