"""Reading a calibration corpus: plain text (one sentence a line), CSV/TSV, or JSON Lines.

The reading itself (formats, column choice, errors) is ``onnxplain.corpus``, shared with the evaluation and
the runtime; here: the sentences of one text column, blank ones dropped, and the corpus's checksum.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from onnxplain.corpus import Column, read_rows
from onnxplain.errors import UserError

DEFAULT_TEXT_COLUMN = "text"


def corpus_sha256(path: str | Path) -> str:
    """Hex SHA-256 of the corpus file's bytes, so an artifact records exactly what it was calibrated on."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_corpus(
    path: str | Path, *, text_column: str | None = None, limit: int | None = None, option: str = "--text-column"
) -> list[str]:
    """The corpus's sentences in file order (blank ones dropped, each stripped), at most ``limit`` of them.

    ``text_column`` names the CSV column or JSON field holding the text (default ``text``); for a CSV file
    without a header row, it may be the 0-based index of the column instead. A CSV with a single column
    needs no ``text_column``. ``option`` is the command-line option named in errors.
    """
    column = Column(
        DEFAULT_TEXT_COLUMN if text_column is None else text_column,
        role="text",
        option=option,
        implicit=text_column is None,
    )
    rows = read_rows(path, [column], what="corpus file", plain_text=True)
    sentences = [text for text in (row.values[0].strip() for row in rows) if text][:limit]
    if not sentences:
        raise UserError(f"corpus file {path} holds no sentences; give it at least one non-blank text")
    return sentences
