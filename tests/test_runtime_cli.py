"""``onnxplain explain``: the same results as the Python API, in every format, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onnxplain.cli import main
from onnxplain.runtime import Explainer

TEXTS = ["A gripping, beautifully shot film.", "dull", "Ça marche — naïve but charming!"]


@pytest.fixture(scope="module")
def explainer(tiny_artifact: Path) -> Explainer:
    return Explainer.load(tiny_artifact)  # the command's defaults: cpu, batch size 16, the model's length


def test_json_output_equals_the_python_api(
    tiny_artifact: Path, explainer: Explainer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", str(tiny_artifact), *TEXTS, "--format", "json", "--method", "transatt"]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = [r.to_json() for r in explainer.explain(TEXTS, method="transatt")]
    assert printed == {"results": json.loads(json.dumps(expected))}


def test_file_input_with_target_writes_every_format(
    tiny_artifact: Path, explainer: Explainer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join([TEXTS[0], "", TEXTS[1], TEXTS[2]]) + "\n", encoding="utf-8")
    label = explainer.labels[1]
    for fmt in ("json", "html", "term"):
        out = tmp_path / f"out.{fmt}"
        args = ["explain", str(tiny_artifact), "--file", str(texts), "--target", label, "--format", fmt]
        assert main([*args, "--out", str(out)]) == 0
        assert "wrote 3 explanation(s)" in capsys.readouterr().err
    data = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert [r["text"] for r in data["results"]] == TEXTS  # the blank line is skipped
    assert {r["target"] for r in data["results"]} == {label}
    expected = [r.to_json() for r in explainer.explain(TEXTS, target=label)]
    assert data["results"] == json.loads(json.dumps(expected))
    page = (tmp_path / "out.html").read_text(encoding="utf-8")
    assert page.count("<article>") == 3 and "naïve" in page
    terminal = (tmp_path / "out.term").read_text(encoding="utf-8")
    assert "\x1b[" not in terminal and terminal.count("explaining " + label) == 3


def test_table_files_are_read_by_column_name_or_0_based_index(
    tiny_artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {
        "named.csv": ("label,review\n" + "".join(f'1,"{t}"\n' for t in TEXTS), ["--text-column", "review"]),
        "headerless.tsv": ("".join(f"0\t{t}\n" for t in TEXTS), ["--text-column", "1"]),
        "texts.jsonl": ("".join(json.dumps({"text": t}) + "\n" for t in TEXTS), []),
    }
    for name, (content, extra) in files.items():
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        assert main(["explain", str(tiny_artifact), "--file", str(path), "--format", "json", *extra]) == 0
        assert [r["text"] for r in json.loads(capsys.readouterr().out)["results"]] == TEXTS, name
    labels = tmp_path / "headerless.tsv"
    assert main(["explain", str(tiny_artifact), "--file", str(labels), "--text-column", "0"]) == 2
    assert "holds only numbers" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["fine", "--method", "nope"], "unknown method 'nope'"),
        (["fine", "--target", "nope"], "unknown label 'nope'"),
        (["--file", "/nonexistent/texts.txt"], "cannot read"),
        ([], "no text to explain"),
        (["   "], "text 0 is empty"),
        (["fine", "--max-length", "100000"], "outside"),
    ],
)
def test_errors_are_one_line_without_traceback(
    tiny_artifact: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", str(tiny_artifact), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1
