"""The evaluation through the runtime on the tiny exported BERT: batched equals one text at a time, the
curves' end points are what they must be, and ``onnxplain evaluate`` writes a complete report."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from onnxplain.cli import main
from onnxplain.evaluation.ablation import ablation_variants
from onnxplain.evaluation.data import LabelledText
from onnxplain.evaluation.encoding import select_texts
from onnxplain.evaluation.faithfulness import Curves, Variant, log_softmax, perturbation_curves
from onnxplain.runtime import Explainer

WORDS = "the film is a warm funny and sharp look at love loss music friends and the long road home".split()


def sentences(count: int, seed: int = 0) -> list[LabelledText]:
    rng = np.random.default_rng(seed)
    return [
        LabelledText(" ".join(rng.choice(WORDS, size=rng.integers(4, 40))), int(rng.integers(0, 3)))
        for _ in range(count)
    ]


@pytest.fixture(scope="module")
def explainer(tiny_artifact: Path) -> Explainer:
    return Explainer.load(tiny_artifact)


def test_batched_evaluation_equals_one_text_at_a_time(explainer: Explainer) -> None:
    examples = sentences(12)
    texts = select_texts(examples, explainer.tokenize([e.text for e in examples]), min_tokens=20).texts
    assert 4 <= len(texts) < len(examples)  # some are skipped, and several lengths remain
    methods = [m for m in explainer.methods if m in ("mask-lrp", "transatt", "attnlrp", "grad-input")]
    variants = [Variant(m, m) for m in methods] + ablation_variants(explainer.manifest, random_masks=2)
    one_by_one = perturbation_curves(explainer, texts, variants, batch_size=1, forward_batch_size=1)
    batched = perturbation_curves(explainer, texts, variants, batch_size=5, forward_batch_size=64)
    np.testing.assert_allclose(batched.p0, one_by_one.p0, rtol=0, atol=1e-5)
    for variant in variants:
        np.testing.assert_allclose(batched.deletion[variant.name], one_by_one.deletion[variant.name], atol=1e-5)
        kept_batched, kept_alone = batched.sufficiency[variant.name], one_by_one.sufficiency[variant.name]
        np.testing.assert_allclose(kept_batched, kept_alone, atol=1e-5)
    assert batched.forward_sequences < len(texts) * len(variants) * 18  # de-duplication saved some calls


def test_curve_end_points(explainer: Explainer) -> None:
    examples = sentences(6, seed=1)
    texts = select_texts(examples, explainer.tokenize([e.text for e in examples]), min_tokens=20).texts
    curves = perturbation_curves(explainer, texts, [Variant("mask-lrp", "mask-lrp")], batch_size=4)
    for row, text in enumerate(texts):
        logits = explainer.run(text.input_ids[None, :], np.ones((1, len(text.input_ids)), dtype=np.int64))
        expected_p0 = np.exp(log_softmax(logits["logits"])[0, text.label])
        assert curves.p0[row] == pytest.approx(expected_p0, abs=1e-6)
        # keeping 100% of the tokens is the original text; deleting 100% leaves only the special tokens
        assert curves.sufficiency["mask-lrp"][row, -1] == pytest.approx(expected_p0, abs=1e-6)
        blank = np.where(text.special_tokens, text.input_ids, explainer.manifest.pad_token_id)
        logits = explainer.run(blank[None, :], np.ones((1, len(blank)), dtype=np.int64))["logits"]
        assert curves.deletion["mask-lrp"][row, -1] == pytest.approx(
            np.exp(log_softmax(logits)[0, text.label]), abs=1e-6
        )


def test_evaluate_command_writes_the_report(tiny_artifact: Path, tmp_path: Path, capsys) -> None:
    data = tmp_path / "heldout.csv"
    with data.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "text"])
        writer.writerows([e.label, e.text] for e in sentences(10, seed=2))
    out = tmp_path / "report"
    argv = ["evaluate", str(tiny_artifact), "--data", str(data), "--out", str(out)]
    argv += ["--methods", "mask-lrp,transatt,rollout", "--bootstrap", "50", "--random-masks", "2", "--quiet"]
    assert main(argv) == 0
    assert "| mask-lrp |" in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    names = [v["name"] for v in results["variants"]]
    assert names[:3] == ["mask-lrp", "transatt", "rollout"]
    assert {"mask-lrp:all", "mask-lrp:none", "mask-lrp:random-0", "mask-lrp:random-1"} <= set(names)
    assert results["texts_read"] == 10
    assert results["texts_evaluated"] + results["skipped_shorter_than_min_tokens"] == 10
    assert results["heads_kept"]["mask-lrp"] == 5  # the fixture masks 3 of 8 heads
    assert results["heads_kept"]["mask-lrp:random-0"] == 5
    for variant in results["variants"]:
        aopc = variant["aopc"]
        assert aopc["ci_low"] <= aopc["mean"] <= aopc["ci_high"]
        assert len(variant["probability_drop"]) == 9
    assert (out / "curves.png").stat().st_size > 10_000
    assert "Head-mask ablation" in (out / "results.md").read_text()
    with np.load(out / "curves.npz") as arrays:
        assert arrays["deletion/transatt"].shape == (results["texts_evaluated"], 9)


def test_evaluate_command_rejects_an_unknown_method(tiny_artifact: Path, tmp_path: Path, capsys) -> None:
    data = tmp_path / "heldout.csv"
    data.write_text("label,text\n0,a fine film\n", encoding="utf-8")
    argv = ["evaluate", str(tiny_artifact), "--data", str(data), "--out", str(tmp_path), "--methods", "lime"]
    assert main(argv) == 2
    assert "has no method lime" in capsys.readouterr().err


def test_saved_curves_load_back_and_runs_on_parts_of_the_data_pool(tmp_path) -> None:
    def part(p0: list[float], offset: float) -> Curves:
        p = np.asarray(p0)
        deletion = {"a": p[:, None] - offset * np.ones((len(p), 9)), "b": p[:, None] * np.ones((len(p), 9))}
        return Curves(p0=p, deletion=deletion, sufficiency={k: v / 2 for k, v in deletion.items()})

    first, second = part([0.9, 0.8], 0.1), part([0.7], 0.2)
    first.save(tmp_path / "first.npz", source_index=np.arange(2))
    second.save(tmp_path / "second.npz", source_index=np.arange(1))
    pooled = Curves.load(tmp_path / "first.npz", tmp_path / "second.npz")
    assert np.array_equal(pooled.p0, [0.9, 0.8, 0.7])
    assert list(pooled.deletion) == ["a", "b"]
    for name in ("a", "b"):
        assert np.array_equal(pooled.deletion[name], np.concatenate([first.deletion[name], second.deletion[name]]))
        assert np.array_equal(
            pooled.sufficiency[name], np.concatenate([first.sufficiency[name], second.sufficiency[name]])
        )
