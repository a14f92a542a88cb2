"""Read a labelled text file (CSV, TSV or JSON lines) into texts and label indices of an artifact's model.

The reading itself (formats, column choice, errors) is ``onnxplain.corpus``, shared with calibration and the
runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from onnxplain.corpus import Column, read_rows
from onnxplain.errors import UserError
from onnxplain.runtime.artifact import Manifest


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
    columns = [
        Column(text_column, role="text", option="--text-column"),
        Column(label_column, role="label", option="--label-column", text=False),
    ]
    examples = []
    for row in read_rows(path, columns, what="data file"):
        text, label = row.values
        try:
            index = manifest.label_index(label.strip() if isinstance(label, str) else label)
        except KeyError as error:
            raise UserError(f"{path}:{row.line}: {error.args[0]}; fix the label or pass --label-column") from None
        examples.append(LabelledText(text=text, label=index))
    if not examples:
        raise UserError(f"{path} holds no examples; pass a file with at least one labelled text")
    return examples
