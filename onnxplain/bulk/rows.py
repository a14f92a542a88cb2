"""The input of ``explain-dataset``: a table of rows to explain, read from CSV/TSV/JSONL or Parquet.

Columns are chosen by name as everywhere in onnxplain (see ``onnxplain.corpus``; a headerless CSV/TSV by 0-based
index). The table has ``position`` (0-based row number among the rows read), ``id`` (the id column's value as a
string, or the position), ``text``, and ``target`` (int64 label index, -1 for the predicted label).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from onnxplain.corpus import Column, read_rows
from onnxplain.errors import UserError
from onnxplain.runtime.artifact import PREDICTED_TARGET, Manifest

PARQUET_SUFFIXES = (".parquet", ".pq")
INPUT_SCHEMA = pa.schema([("position", pa.int64()), ("id", pa.string()), ("text", pa.string()), ("target", pa.int64())])


@dataclass(frozen=True)
class InputColumns:
    text: str = "text"
    id: str | None = None  # None: the row's position is its id
    target: str | None = None  # None: explain each text's predicted label


def _read_values(path: Path, columns: InputColumns) -> tuple[list[str], list[str] | None, list[object] | None]:
    """The text, id and target values of every row, in file order."""
    given = [("text", columns.text), ("id", columns.id), ("target", columns.target)]
    wanted: list[tuple[str, str]] = [(role, name) for role, name in given if name is not None]
    if path.suffix.lower() in PARQUET_SUFFIXES:
        import pyarrow.parquet as pq

        if not path.is_file():
            raise UserError(f"data file {path} does not exist; pass the path of a .parquet, .csv, .tsv or .jsonl file")
        names = pq.read_schema(path).names
        for role, name in wanted:
            if name not in names:
                raise UserError(
                    f"data file {path} has no column named {name!r} for the {role} (it has {', '.join(names)}); "
                    f"pass --{role}-column NAME"
                )
        table = pq.read_table(path, columns=[name for _, name in wanted])
        values = {role: table.column(name).to_pylist() for role, name in wanted}
        texts = values["text"]
        if not all(isinstance(t, str) or t is None for t in texts):
            raise UserError(f"the text column {columns.text!r} of {path} does not hold strings; pass --text-column")
    else:
        specs = [
            Column(name, role=role, option=f"--{role}-column", text=role == "text", implicit=False)
            for role, name in wanted
        ]
        rows = read_rows(path, specs, what="data file")
        values = {role: [row.values[i] for row in rows] for i, (role, _) in enumerate(wanted)}
    texts = ["" if t is None else t for t in values["text"]]
    ids = None if columns.id is None else [str(v) for v in values["id"]]
    return texts, ids, values.get("target")


def target_index(value: object, manifest: Manifest, where: str) -> int:
    if value is None or (isinstance(value, str) and not value.strip()):
        return PREDICTED_TARGET
    label: str | int = (
        int(value) if isinstance(value, int) or (isinstance(value, str) and value.isdigit()) else str(value)
    )
    try:
        return manifest.label_index(label)
    except KeyError as error:
        raise UserError(
            f"{where}: {error.args[0]}; fix the target column or leave it empty (predicted label)"
        ) from None


def read_input(
    path: str | Path, columns: InputColumns, manifest: Manifest, limit: int | None = None
) -> tuple[pa.Table, int]:
    """The rows to explain (at most ``limit``, the first ones) and how many were skipped for an empty text."""
    path = Path(path)
    texts, ids, targets = _read_values(path, columns)
    keep = [i for i, text in enumerate(texts) if text.strip()]
    skipped = len(texts) - len(keep)
    if limit is not None:
        keep = keep[:limit]
    if ids is not None:
        seen: set[str] = set()
        for i in keep:
            if ids[i] in seen:
                raise UserError(f"id {ids[i]!r} appears twice in the id column of {path}; ids must be unique")
            seen.add(ids[i])
    table = pa.table(
        {
            "position": pa.array(keep, pa.int64()),
            "id": pa.array([ids[i] if ids is not None else str(i) for i in keep], pa.string()),
            "text": pa.array([texts[i] for i in keep], pa.string()),
            "target": pa.array(
                [
                    PREDICTED_TARGET if targets is None else target_index(targets[i], manifest, f"row {i} of {path}")
                    for i in keep
                ],
                pa.int64(),
            ),
        },
        schema=INPUT_SCHEMA,
    )
    return table, skipped
