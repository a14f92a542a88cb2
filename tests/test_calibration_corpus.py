"""Reading calibration corpora: the three formats, and one clear error for every bad file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from onnxplain.calibration.corpus import corpus_sha256, read_corpus
from onnxplain.errors import UserError


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_plain_text_one_sentence_a_line_skips_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "corpus.txt", "a fine film .\n\n   \nan awful one .\n")
    assert read_corpus(path) == ["a fine film .", "an awful one ."]


def test_limit_keeps_the_first_sentences(tmp_path: Path) -> None:
    path = write(tmp_path / "corpus.txt", "one\ntwo\nthree\n")
    assert read_corpus(path, limit=2) == ["one", "two"]


def test_csv_with_a_header_reads_the_text_column(tmp_path: Path) -> None:
    path = write(tmp_path / "corpus.csv", 'label,text\n1,"good, really"\n0,bad\n')
    assert read_corpus(path) == ["good, really", "bad"]


def test_headerless_csv_with_bom_reads_the_numbered_column(tmp_path: Path) -> None:
    # the layout of the Pang & Lee sentence file of SPEC §5
    path = write(tmp_path / "corpus.csv", '\ufeff"1","a ""quoted"" gem . \n"\n"-1","dull ."\n'.encode())
    assert read_corpus(path, text_column="1") == ['a "quoted" gem .', "dull ."]  # 0-based, as everywhere


def test_a_label_column_of_numbers_is_refused_as_text(tmp_path: Path) -> None:
    path = write(tmp_path / "corpus.csv", '"1","a fine film ."\n"-1","dull ."\n')
    with pytest.raises(UserError, match=r"holds only numbers \('1', '-1'") as raised:
        read_corpus(path, text_column="0")
    assert "--text-column 0" in str(raised.value) and "0-based" in str(raised.value)
    named = write(tmp_path / "named.tsv", "label\ttext\n1\tgood\n0\tbad\n")
    with pytest.raises(UserError, match="holds only numbers"):
        read_corpus(named, text_column="label")
    assert read_corpus(write(tmp_path / "mixed.csv", "text\n2001: a space odyssey\n7\n")) == [
        "2001: a space odyssey",
        "7",
    ]


def test_tsv_and_named_column(tmp_path: Path) -> None:
    path = write(tmp_path / "corpus.tsv", "sentence\tlabel\nfirst one\t1\nsecond\t0\n")
    assert read_corpus(path, text_column="sentence") == ["first one", "second"]


def test_single_column_csv_needs_no_column_name(tmp_path: Path) -> None:
    path = write(tmp_path / "corpus.csv", "first sentence\nsecond sentence\n")
    assert read_corpus(path) == ["first sentence", "second sentence"]


def test_jsonl_reads_the_text_field(tmp_path: Path) -> None:
    path = write(tmp_path / "corpus.jsonl", '{"text": "one", "label": 1}\n\n{"text": "two"}\n')
    assert read_corpus(path) == ["one", "two"]
    path = write(tmp_path / "other.jsonl", '{"review": "three"}\n')
    assert read_corpus(path, text_column="review") == ["three"]


def test_checksum_is_the_sha256_of_the_bytes(tmp_path: Path) -> None:
    path = write(tmp_path / "corpus.txt", "some text\n")
    assert corpus_sha256(path) == hashlib.sha256(b"some text\n").hexdigest()


@pytest.mark.parametrize(
    ("name", "content", "text_column", "expected"),
    [
        ("empty.txt", "", None, "holds no sentences"),
        ("blank.txt", "\n  \n\n", None, "holds no sentences"),
        ("empty.csv", "", None, "holds no sentences"),
        ("header-only.csv", "label,text\n", None, "holds no sentences"),
        ("latin1.txt", "un film tr\xe8s r\xe9ussi\n".encode("latin-1"), None, "not UTF-8"),
        ("latin1.csv", "label,text\n1,caf\xe9\n".encode("latin-1"), None, "not UTF-8"),
        ("no-column.csv", "label,review\n1,good\n", None, "no column named 'text'"),
        ("wrong-number.csv", '"1","good"\n', "2", "--text-column 2 does not exist"),
        ("short-row.csv", "label,text\n1,good\n0\n", None, "row 3"),
        ("no-field.jsonl", '{"text": "a"}\n{"review": "b"}\n', None, "line 2"),
        ("broken.jsonl", '{"text": "a"\n', None, "not valid JSON"),
        ("not-an-object.jsonl", '["a"]\n', None, "no text field"),
        ("corpus.docx", "text", None, "unknown extension"),
    ],
)
def test_bad_corpus_files_give_one_clear_error(
    tmp_path: Path, name: str, content: str | bytes, text_column: str | None, expected: str
) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(UserError, match=expected) as raised:
        read_corpus(path, text_column=text_column)
    message = str(raised.value)
    assert str(path) in message and "\n" not in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        read_corpus(tmp_path / "nowhere.txt")
