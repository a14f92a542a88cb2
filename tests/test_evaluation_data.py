"""Reading labelled texts (CSV, TSV, JSONL; label names or indices) and the ablation's head masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from onnxplain.errors import UserError
from onnxplain.evaluation.ablation import ablation_variants, random_head_mask
from onnxplain.evaluation.data import read_labelled_texts
from onnxplain.runtime.artifact import Manifest, MethodRecord


def manifest(head_mask: dict | None = None) -> Manifest:
    default = [[1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 0.0]]
    return Manifest(
        architecture="bert",
        task="sequence-classification",
        labels={0: "negative", 1: "positive"},
        inputs=["input_ids", "attention_mask", "target", "head_mask"],
        methods={"mask-lrp": MethodRecord("mask-lrp", "relevance_mask_lrp", "chefer", True, "Mask-LRP")},
        default_method="mask-lrp",
        head_mask=head_mask or {"default": default},
        max_length=64,
        num_layers=2,
        num_heads=4,
        pad_token_id=0,
    )


def test_csv_with_header_byte_order_mark_and_label_names(tmp_path: Path) -> None:
    path = tmp_path / "heldout.csv"
    path.write_text('\ufefflabel,text\npositive,"warm, funny"\n0,cold\n\n', encoding="utf-8")
    rows = read_labelled_texts(path, manifest())
    assert [(r.text, r.label) for r in rows] == [("warm, funny", 1), ("cold", 0)]


def test_headerless_csv_with_column_indices(tmp_path: Path) -> None:
    path = tmp_path / "heldout.csv"
    path.write_text("1,good\nnegative,bad\n", encoding="utf-8")
    rows = read_labelled_texts(path, manifest(), text_column="1", label_column="0")
    assert [(r.text, r.label) for r in rows] == [("good", 1), ("bad", 0)]


def test_tsv_and_jsonl_with_other_column_names(tmp_path: Path) -> None:
    tsv = tmp_path / "data.tsv"
    tsv.write_text("sentence\tgold\nfine\tpositive\n", encoding="utf-8")
    jsonl = tmp_path / "data.jsonl"
    jsonl.write_text('{"sentence": "fine", "gold": 1}\n\n{"sentence": "meh", "gold": "negative"}\n')
    for path, count in ((tsv, 1), (jsonl, 2)):
        rows = read_labelled_texts(path, manifest(), text_column="sentence", label_column="gold")
        assert len(rows) == count
        assert (rows[0].text, rows[0].label) == ("fine", 1)


@pytest.mark.parametrize(
    "name, content, problem",
    [
        ("data.csv", "label,text\nneutral,so-so\n", "unknown label"),
        ("data.csv", "polarity,text\n1,good\n", "no column named 'label'"),
        ("data.csv", "0,1\n1,good\n", "no column named 'text'"),
        ("data.jsonl", '{"text": "fine"}\n', "no label field 'label'"),
        ("data.csv", "label,text\n", "no examples"),
        ("data.jsonl", "{not json}\n", "not valid JSON"),
        ("data.txt", "1,good\n", "unknown extension"),
    ],
)
def test_user_errors_name_the_problem(tmp_path: Path, name: str, content: str, problem: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=problem):
        read_labelled_texts(path, manifest())


def test_swapped_columns_of_a_headerless_file_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "heldout.csv"
    path.write_text("1,good\n0,bad\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"text column .*\(--text-column 0\) holds only numbers"):
        read_labelled_texts(path, manifest(), text_column="0", label_column="1")


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        read_labelled_texts(tmp_path / "absent.csv", manifest())


def test_random_head_masks_keep_the_calibrated_number_of_heads() -> None:
    variants = {v.name: v.head_mask for v in ablation_variants(manifest(), random_masks=5, seed=3)}
    randoms = [mask for name, mask in variants.items() if ":random-" in name]
    assert len(randoms) == 5
    assert all(mask is not None and mask.shape == (2, 4) and mask.sum() == 3 for mask in randoms)
    assert len({mask.tobytes() for mask in randoms if mask is not None}) > 1
    assert np.array_equal(variants["mask-lrp:all"], np.ones((2, 4)))
    assert np.array_equal(variants["mask-lrp:none"], np.zeros((2, 4)))
    assert np.array_equal(random_head_mask(2, 4, 3, seed=3), variants["mask-lrp:random-0"])


def test_syntactic_and_positional_masks_come_from_the_stored_calibration_statistics() -> None:
    statistics = {"syntactic_heads": [[0, 0], [1, 2]], "positional_heads": [[0, 3]], "kept_by_mode": {}}
    head_mask = {
        "default": [[1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 0.0]],
        "provenance": {"statistics": statistics},
    }
    variants = {v.name: v.head_mask for v in ablation_variants(manifest(head_mask), random_masks=0)}
    assert list(variants) == ["mask-lrp:syntactic", "mask-lrp:positional", "mask-lrp:all", "mask-lrp:none"]
    assert np.argwhere(variants["mask-lrp:syntactic"]).tolist() == [[0, 0], [1, 2]]
    assert np.argwhere(variants["mask-lrp:positional"]).tolist() == [[0, 3]]
