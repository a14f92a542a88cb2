"""Reading a calibration corpus: plain text (one sentence a line), CSV/TSV, or JSON Lines.

Every problem a user can cause (missing file, unknown format, bad encoding, missing column, no sentences)
ends in one ``UserError`` that names the file and the fix.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

from onnxplain.errors import UserError

TEXT_SUFFIXES = (".txt", ".text")
CSV_SUFFIXES = {".csv": ",", ".tsv": "\t"}
JSONL_SUFFIXES = (".jsonl", ".ndjson")
DEFAULT_TEXT_COLUMN = "text"


def corpus_sha256(path: str | Path) -> str:
    """Hex SHA-256 of the corpus file's bytes, so an artifact records exactly what it was calibrated on."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_corpus(path: str | Path, *, text_column: str | None = None, limit: int | None = None) -> list[str]:
    """The corpus's sentences in file order (blank ones dropped), at most ``limit`` of them.

    ``text_column`` names the CSV column or JSON field holding the text (default ``text``); for a CSV file
    without a header row, it may be the 1-based number of the column instead. A CSV with a single column
    needs no ``text_column``.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"corpus file {path} does not exist; pass the path of a .txt, .csv or .jsonl file")
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        lines = _plain_lines(path)
    elif suffix in CSV_SUFFIXES:
        lines = _csv_texts(path, CSV_SUFFIXES[suffix], text_column)
    elif suffix in JSONL_SUFFIXES:
        lines = _jsonl_texts(path, text_column or DEFAULT_TEXT_COLUMN)
    else:
        raise UserError(
            f"corpus file {path} has the unknown extension {suffix or '(none)'!r}; use .txt (one sentence a "
            "line), .csv/.tsv (with a text column) or .jsonl (one object with a text field a line)"
        )
    sentences: list[str] = []
    try:
        for line in lines:
            text = line.strip()
            if text:
                sentences.append(text)
                if limit is not None and len(sentences) >= limit:
                    break
    except UnicodeDecodeError:
        raise UserError(f"corpus file {path} is not UTF-8 text; re-save it with UTF-8 encoding") from None
    if not sentences:
        raise UserError(f"corpus file {path} holds no sentences; give it at least one non-blank text")
    return sentences


def _plain_lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8-sig") as stream:
        yield from stream


def _csv_texts(path: Path, delimiter: str, text_column: str | None) -> Iterator[str]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        reader = csv.reader(stream, delimiter=delimiter)
        first = next(reader, None)
        if first is None:
            return
        column, skip_first = _text_column_index(path, first, text_column)
        rows: Iterator[list[str]] = reader if skip_first else itertools.chain([first], reader)
        for number, row in enumerate(rows, start=2 if skip_first else 1):
            if not row:
                continue
            if column >= len(row):
                raise UserError(
                    f"row {number} of corpus file {path} has {len(row)} columns, fewer than the text column "
                    f"needs ({column + 1}); fix that row or choose another --text-column"
                )
            yield row[column]


def _text_column_index(path: Path, first_row: list[str], text_column: str | None) -> tuple[int, bool]:
    """Index of the text column and whether the first row is a header (and so not a sentence)."""
    header = [name.strip() for name in first_row]
    wanted = DEFAULT_TEXT_COLUMN if text_column is None else text_column
    if wanted in header:
        return header.index(wanted), True
    if text_column is not None and text_column.isdigit():
        number = int(text_column)
        if not 1 <= number <= len(header):
            raise UserError(
                f"corpus file {path} has {len(header)} columns, so --text-column {number} does not exist; "
                f"pass a number from 1 to {len(header)}"
            )
        return number - 1, False
    if text_column is None and len(header) == 1:
        return 0, False
    preview = ", ".join(repr(name[:30]) for name in header)
    raise UserError(
        f"corpus file {path} has no column named {wanted!r} (its first row is {preview}); pass "
        "--text-column NAME, or --text-column N for the N-th column of a file without a header row"
    )


def _jsonl_texts(path: Path, field: str) -> Iterator[str]:
    with path.open(encoding="utf-8-sig") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise UserError(
                    f"line {number} of corpus file {path} is not valid JSON ({error.msg}); write one JSON object a line"
                ) from None
            if not isinstance(record, dict) or not isinstance(record.get(field), str):
                raise UserError(
                    f"line {number} of corpus file {path} has no text field {field!r}; give every line that "
                    "field or pass --text-column with the field's name"
                )
            yield record[field]
