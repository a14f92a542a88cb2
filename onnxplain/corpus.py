"""Reading text files: plain text (one text a line), CSV/TSV, or JSON Lines, by named columns.

The one convention for choosing columns, shared by every command (``heads``, ``export --calibration``,
``evaluate``, ``explain --file``): a column is given by its **name** (the CSV/TSV header, the JSON key) or, for a
CSV/TSV file **without a header row**, by its **0-based index** (``0`` is the first column; a name made of
digits is always read as an index). A text column
whose values are all numbers is refused: it is almost always the label column picked by mistake.

Needs nothing beyond the standard library (the runtime uses it: no torch here). Every problem a user can
cause ends in one ``UserError`` sentence that names the file and the fix.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onnxplain.errors import UserError

TEXT_SUFFIXES = (".txt", ".text")
DELIMITERS = {".csv": ",", ".tsv": "\t"}
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")


@dataclass(frozen=True)
class Column:
    """A column to read. ``name``: header name or JSON key, or digits = 0-based index in a headerless CSV.

    ``role`` names it in errors ("text", "label", "question"); ``option`` is the command-line option that sets
    it (None: fixed by the format). A ``text`` column is refused when all its values are numbers. With
    ``implicit`` (the name is a default the user did not give), a one-column CSV without that header is read
    as that column.
    """

    name: str
    role: str = "text"
    option: str | None = "--text-column"
    text: bool = True
    implicit: bool = False

    def fix(self) -> str:
        if self.option is None:
            return f"give the file a {self.name!r} column"
        return (
            f"pass {self.option} NAME, or {self.option} N (0-based) for the N-th column of a CSV/TSV file "
            "without a header row"
        )


@dataclass(frozen=True)
class Row:
    line: int  # 1-based line (plain text, JSON lines) or record (CSV/TSV) number in the file
    values: tuple[Any, ...]  # one per requested column: strings, or any JSON value for non-text columns


def is_number(value: str) -> bool:
    try:
        float(value.strip())
    except ValueError:
        return False
    return True


def read_rows(
    path: str | Path, columns: Sequence[Column], *, what: str = "data file", plain_text: bool = False
) -> list[Row]:
    """Every non-empty row of ``path`` as the values of ``columns``, in file order.

    ``plain_text`` accepts ``.txt`` files, one value of the single column a line (blank lines skipped).
    ``what`` names the file in errors ("corpus file", "data file").
    """
    path = Path(path)
    suffix = path.suffix.lower()
    accepted = ".txt, .csv, .tsv or .jsonl" if plain_text else ".csv, .tsv or .jsonl"
    if not path.is_file():
        raise UserError(f"{what} {path} does not exist; pass the path of a {accepted} file")
    if suffix in TEXT_SUFFIXES and plain_text and len(columns) == 1:
        reading = _plain_rows(path)
    elif suffix in DELIMITERS:
        reading = _delimited_rows(path, DELIMITERS[suffix], columns, what)
    elif suffix in JSON_LINES_SUFFIXES:
        reading = _json_rows(path, columns, what)
    else:
        raise UserError(
            f"{what} {path} has the unknown extension {suffix or '(none)'!r}; use {accepted} "
            "(.txt: one text a line; .csv/.tsv: columns; .jsonl: one JSON object a line)"
        )
    try:
        rows = list(reading)
    except UnicodeDecodeError:
        raise UserError(f"{what} {path} is not UTF-8 text; re-save it with UTF-8 encoding") from None
    for index, column in enumerate(columns):
        values = [row.values[index] for row in rows if isinstance(row.values[index], str)]
        filled = [value for value in values if value.strip()]
        if column.text and filled and all(is_number(value) for value in filled):
            preview = ", ".join(repr(value.strip()) for value in filled[:3])
            chosen = f"{column.option} {column.name}" if column.option else f"column {column.name!r}"
            raise UserError(
                f"the {column.role} column of {what} {path} ({chosen}) holds only numbers ({preview}, ...), "
                f"which looks like a label column; pass the {column.role} column's name, or its 0-based index "
                "for a file without a header row"
            )
    return rows


def _plain_rows(path: Path) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig") as stream:  # utf-8-sig drops a byte-order mark
        for number, line in enumerate(stream, start=1):
            if line.strip():
                yield Row(number, (line.rstrip("\r\n"),))


def _delimited_rows(path: Path, delimiter: str, columns: Sequence[Column], what: str) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        reader = csv.reader(stream, delimiter=delimiter)
        first = next(reader, None)
        if first is None:
            return
        indices, has_header = _column_indices(path, first, columns, what)
        rows = reader if has_header else itertools.chain([first], reader)
        yield from _values(path, rows, indices, columns, what, start=2 if has_header else 1)


def _values(
    path: Path, rows: Iterator[list[str]], indices: list[int], columns: Sequence[Column], what: str, start: int
) -> Iterator[Row]:
    for number, row in enumerate(rows, start=start):
        if not row:
            continue
        for index, column in zip(indices, columns, strict=True):
            if index >= len(row):
                raise UserError(
                    f"row {number} of {what} {path} has {len(row)} columns, fewer than the {column.role} column "
                    f"needs ({index + 1}); fix that row or choose another column"
                )
        yield Row(number, tuple(row[index] for index in indices))


def _column_indices(path: Path, first_row: list[str], columns: Sequence[Column], what: str) -> tuple[list[int], bool]:
    """Index of each column and whether the first row is a header (and so not data)."""
    header = [name.strip() for name in first_row]
    # digits are an index even when the first row holds the same digits (often a label in a headerless file)
    if all(column.name.isdigit() for column in columns):
        for column in columns:
            if int(column.name) >= len(header):
                raise UserError(
                    f"{what} {path} has {len(header)} columns, so {column.option or 'column'} {column.name} does "
                    f"not exist; pass a number from 0 to {len(header) - 1} (0-based) or a column name"
                )
        return [int(column.name) for column in columns], False
    if all(column.name in header for column in columns):
        return [header.index(column.name) for column in columns], True
    if len(columns) == 1 and columns[0].implicit and len(header) == 1:
        return [0], False
    missing = next(column for column in columns if column.name not in header)
    preview = ", ".join(repr(name[:30]) for name in header)
    raise UserError(
        f"{what} {path} has no column named {missing.name!r} for the {missing.role} (its first row is {preview}); "
        f"{missing.fix()}"
    )


def _json_rows(path: Path, columns: Sequence[Column], what: str) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise UserError(
                    f"line {number} of {what} {path} is not valid JSON ({error.msg}); write one JSON object a line"
                ) from None
            values = []
            for column in columns:
                value = record.get(column.name) if isinstance(record, dict) else None
                if value is None or (column.text and not isinstance(value, str)):
                    kind = " string" if column.text else ""
                    fix = f"name another field with {column.option}" if column.option else "add it"
                    raise UserError(
                        f"line {number} of {what} {path} has no {column.role} field {column.name!r}; give every "
                        f"line that field (a{kind} value), or {fix}"
                    )
                values.append(value)
            yield Row(number, tuple(values))
