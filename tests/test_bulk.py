"""``onnxplain explain-dataset`` with the local engine: the inputs it reads, the Parquet it writes, resuming.
(The Ray engine is compared with this one in ``test_engines_ray.py``.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow", reason="needs the ray extra: pip install 'onnxplain[ray]'")
import pyarrow.parquet as pq  # noqa: E402

from onnxplain.bulk.command import explain_dataset  # noqa: E402
from onnxplain.bulk.rows import InputColumns  # noqa: E402
from onnxplain.cli import main  # noqa: E402
from onnxplain.errors import UserError  # noqa: E402
from onnxplain.runtime import Explainer  # noqa: E402

TEXTS = [f"review {i}: " + " ".join(["good", "dull", "long", "honest"][: 1 + i % 4] * (1 + i % 5)) for i in range(45)]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bulk-data")
    rows = [{"id": f"r{i}", "text": t, "label": str(i % 3)} for i, t in enumerate(TEXTS)]
    rows[7]["text"] = "   "  # a row without text is skipped
    csv = folder / "rows.csv"
    csv.write_text("id,text,label\n" + "".join(f'{r["id"]},"{r["text"]}",{r["label"]}\n' for r in rows))
    jsonl = folder / "rows.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    parquet = folder / "rows.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    return {"csv": csv, "jsonl": jsonl, "parquet": parquet}


def run(artifact: Path, data: Path, out: Path, **options: object) -> object:
    options.setdefault("columns", InputColumns(id="id", target="label"))
    return explain_dataset(artifact, data, out, progress=False, chunk_rows=8, part_rows=16, **options)


def test_every_row_once_with_the_explainers_answer(tiny_artifact: Path, data: dict[str, Path], tmp_path: Path) -> None:
    summary = run(tiny_artifact, data["csv"], tmp_path / "out", methods=["mask-lrp", "attnlrp"])
    assert (summary.rows, summary.written, summary.skipped_empty) == (44, 44, 1)
    table = pq.read_table(tmp_path / "out")
    assert table.column("id").to_pylist() == [f"r{i}" for i in range(45) if i != 7]  # parts in input order
    explainer = Explainer.load(tiny_artifact)
    labels = json.loads(table.schema.metadata[b"onnxplain.labels"])
    for row in table.slice(0, 12).to_pylist():
        index = int(row["id"][1:])
        for method in ("mask-lrp", "attnlrp"):
            [expected] = explainer.explain(TEXTS[index], method=method, target=index % 3)
            assert row["target"] == expected.target == labels[index % 3] and row["label"] == expected.label
            assert row["tokens"] == [t.text for t in expected.tokens]
            assert row["word_spans"] == [[w.start, w.end] for w in expected.words]
            np.testing.assert_allclose(row[f"{method}.token_relevance"], expected.relevance, rtol=1e-4, atol=1e-6)
            words = [w.relevance for w in expected.words]
            np.testing.assert_allclose(row[f"{method}.word_relevance"], words, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(row["probabilities"], [expected.probabilities[n] for n in labels], atol=1e-6)


def test_csv_jsonl_and_parquet_give_the_same_table(tiny_artifact: Path, data: dict[str, Path], tmp_path: Path) -> None:
    tables = []
    for kind, path in data.items():
        run(tiny_artifact, path, tmp_path / kind)
        tables.append(pq.read_table(tmp_path / kind))
    assert tables[0].equals(tables[1]) and tables[0].equals(tables[2])


def test_a_rerun_skips_what_is_written_and_finishes_the_rest(
    tiny_artifact: Path, data: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = run(tiny_artifact, data["jsonl"], out, limit=20)
    assert first.written == 20
    (out / ".part-0000000099.parquet.123.tmp").write_bytes(b"half a part from a killed run")
    second = run(tiny_artifact, data["jsonl"], out)
    assert (second.already, second.written) == (20, 24)
    third = run(tiny_artifact, data["jsonl"], out)
    assert third.written == 0 and third.already == 44
    ids = pq.read_table(out).column("id").to_pylist()
    assert len(ids) == len(set(ids)) == 44
    with pytest.raises(UserError, match="other methods"):
        run(tiny_artifact, data["jsonl"], out, methods=["attnlrp"])


def test_user_errors_are_one_sentence(tiny_artifact: Path, data: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown method 'nope'"):
        run(tiny_artifact, data["csv"], tmp_path / "a", methods=["nope"])
    with pytest.raises(UserError, match="no column named 'words'"):
        run(tiny_artifact, data["parquet"], tmp_path / "b", columns=InputColumns(text="words"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "fine", "label": "no-such-label"}) + "\n")
    with pytest.raises(UserError, match="no-such-label"):
        run(tiny_artifact, bad, tmp_path / "c", columns=InputColumns(target="label"))


def test_the_command_line(tiny_artifact: Path, data: dict[str, Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli"
    argv = ["explain-dataset", str(tiny_artifact), "--data", str(data["csv"]), "--out", str(out), "--no-progress"]
    assert main(argv + ["--methods", "grad-input", "--id-column", "id", "--limit", "10"]) == 0
    assert "wrote 10 rows" in capsys.readouterr().err
    assert pq.read_table(out).column_names[-2:] == ["grad-input.token_relevance", "grad-input.word_relevance"]
    assert main(argv + ["--engine", "local", "--methods", "nope"]) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err
