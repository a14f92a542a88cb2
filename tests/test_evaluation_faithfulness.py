"""The evaluation through the runtime on the tiny exported BERT: every protocol's probabilities equal a plain
re-implementation that runs each perturbed text alone (so deletion's shorter copies, padded in a batch,
are checked against unpadded runs), batched equals one text at a time, the random floor is seeded, and
``onnxplain evaluate`` writes a complete report and comparison page."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from onnxplain.cli import main
from onnxplain.evaluation.ablation import ablation_variants
from onnxplain.evaluation.data import LabelledText
from onnxplain.evaluation.encoding import EncodedText, select_texts
from onnxplain.evaluation.faithfulness import Curves, Variant, forward_chunks, log_softmax, perturbation_curves
from onnxplain.evaluation.floor import RANDOM
from onnxplain.evaluation.protocols import PROTOCOLS
from onnxplain.runtime import Explainer

WORDS = "the film is a warm funny and sharp look at love loss music friends and the long road home".split()
MASK_ID = 103  # [MASK] of the MiniLM tokenizer the tiny model uses
ALL = list(PROTOCOLS.values())


def sentences(count: int, seed: int = 0) -> list[LabelledText]:
    rng = np.random.default_rng(seed)
    return [
        LabelledText(" ".join(rng.choice(WORDS, size=rng.integers(4, 40))), int(rng.integers(0, 3)))
        for _ in range(count)
    ]


@pytest.fixture(scope="module")
def explainer(tiny_artifact: Path) -> Explainer:
    return Explainer.load(tiny_artifact)


def encoded(explainer: Explainer, count: int, seed: int) -> list[EncodedText]:
    examples = sentences(count, seed)
    return select_texts(examples, explainer.tokenize([e.text for e in examples]), min_tokens=20).texts


def probability_alone(explainer: Explainer, ids: list[int], label: int) -> float:
    """The gold-class probability of one unpadded sequence, run on its own."""
    input_ids = np.asarray([ids], dtype=np.int64)
    logits = explainer.run(input_ids, np.ones_like(input_ids), methods=())["logits"]
    return float(np.exp(log_softmax(logits)[0, label]))


def plain_steps(protocol: str, ids: list[int], ranked: list[int]) -> list[list[int]]:
    """Each step's sequence, written out with lists: ranked = candidate positions, most relevant first."""
    taken = ranked[::-1] if protocol == "lerf" else ranked
    steps = []
    for j in range(1, 10):
        affected = set(taken[: round(j * len(ranked) / 9)])
        if protocol == "delete":
            steps.append([t for i, t in enumerate(ids) if i not in affected])
        else:
            token = MASK_ID if protocol == "mask" else 0
            steps.append([token if i in affected else t for i, t in enumerate(ids)])
    return steps


def test_every_protocol_equals_a_plain_reimplementation_run_text_by_text(explainer: Explainer) -> None:
    texts = encoded(explainer, 8, seed=3)[:4]
    assert len({len(t.input_ids) for t in texts}) > 1  # several lengths: the batch is padded
    variants = [Variant("attnlrp", "attnlrp"), Variant(RANDOM, None)]
    curves = perturbation_curves(
        explainer, texts, variants, ALL, mask_token_id=MASK_ID, seed=5, batch_size=4, forward_batch_size=512
    )
    for row, text in enumerate(texts):
        ids = text.input_ids.tolist()
        alone = explainer.run(text.input_ids[None, :], np.ones((1, len(ids)), dtype=np.int64), ("attnlrp",),
                              target=np.asarray([text.label]))["attnlrp"][0]  # fmt: skip
        np.testing.assert_allclose(curves.relevance["attnlrp"][row], alone, atol=1e-5)
        for variant in variants:
            relevance = curves.relevance[variant.name][row].tolist()
            candidates = [i for i in range(len(ids)) if not text.special_tokens[i]]
            ranked = sorted(candidates, key=lambda i: (-relevance[i], i))
            for protocol in PROTOCOLS:
                expected = [probability_alone(explainer, s, text.label) for s in plain_steps(protocol, ids, ranked)]
                np.testing.assert_allclose(curves.steps[protocol][variant.name][row], expected, atol=2e-5)
            for fraction_index, fraction in enumerate((0.01, 0.05, 0.1, 0.2, 0.5)):
                count = math.ceil(fraction * len(ranked))
                without = [t for i, t in enumerate(ids) if i not in set(ranked[:count])]
                only = [t for i, t in enumerate(ids) if i not in set(ranked[count:])]
                got_without = curves.comprehensiveness["delete"][variant.name][row, fraction_index]
                got_only = curves.sufficiency["delete"][variant.name][row, fraction_index]
                assert got_without == pytest.approx(probability_alone(explainer, without, text.label), abs=2e-5)
                assert got_only == pytest.approx(probability_alone(explainer, only, text.label), abs=2e-5)
        assert curves.p0[row] == pytest.approx(probability_alone(explainer, ids, text.label), abs=1e-6)


def test_batched_evaluation_equals_one_text_at_a_time(explainer: Explainer) -> None:
    texts = encoded(explainer, 12, seed=0)
    assert 4 <= len(texts) < 12  # some are skipped, and several lengths remain
    methods = [m for m in explainer.methods if m in ("mask-lrp", "transatt", "grad-input")]
    variants = [Variant(m, m) for m in methods] + [Variant(RANDOM, None)]
    variants += ablation_variants(explainer.manifest, random_masks=1)
    one = perturbation_curves(
        explainer, texts, variants, ALL, mask_token_id=MASK_ID, batch_size=1, forward_batch_size=1
    )
    batched = perturbation_curves(
        explainer, texts, variants, ALL, mask_token_id=MASK_ID, batch_size=5, forward_batch_size=64, forward_tokens=900
    )
    np.testing.assert_allclose(batched.p0, one.p0, rtol=0, atol=1e-5)
    for group in ("steps", "comprehensiveness", "sufficiency"):
        for key, by_variant in getattr(one, group).items():
            for name, curve in by_variant.items():
                np.testing.assert_allclose(getattr(batched, group)[key][name], curve, atol=1e-5, err_msg=name)
    rankings_by_text = len(texts) * len(variants)
    assert batched.forward_sequences < rankings_by_text * (4 * 9 + 3 * 10)  # de-duplication saved some calls


def test_the_random_floor_is_seeded_and_independent_of_batching(explainer: Explainer) -> None:
    texts = encoded(explainer, 8, seed=4)
    floor = [Variant(RANDOM, None)]
    pad = [PROTOCOLS["pad"]]
    first = perturbation_curves(explainer, texts, floor, pad, seed=11, batch_size=2)
    again = perturbation_curves(explainer, texts, floor, pad, seed=11, batch_size=7)
    other = perturbation_curves(explainer, texts, floor, pad, seed=12, batch_size=2)
    for a, b in zip(first.relevance[RANDOM], again.relevance[RANDOM], strict=True):
        assert np.array_equal(a, b)
    # the same copies; their probabilities agree to float32 rounding (other batches pad them differently)
    np.testing.assert_allclose(first.steps["pad"][RANDOM], again.steps["pad"][RANDOM], atol=1e-5)
    assert not all(np.array_equal(a, b) for a, b in zip(first.relevance[RANDOM], other.relevance[RANDOM], strict=True))
    assert not np.allclose(first.steps["pad"][RANDOM], other.steps["pad"][RANDOM])


def test_forward_chunks_respect_both_limits() -> None:
    lengths = [5, 40, 7, 7, 30, 100, 6]
    chunks = forward_chunks(lengths, max_sequences=3, max_tokens=60)
    assert sorted(i for c in chunks for i in c.tolist()) == list(range(len(lengths)))
    for chunk in chunks:
        assert len(chunk) <= 3
        assert len(chunk) == 1 or len(chunk) * max(lengths[i] for i in chunk) <= 60
    assert [lengths[i] for i in chunks[-1]] == [100]  # longer than the token limit: alone


def test_saved_curves_load_back_and_runs_on_parts_of_the_data_pool(explainer: Explainer, tmp_path: Path) -> None:
    texts = encoded(explainer, 10, seed=6)
    variants = [Variant("grad-input", "grad-input"), Variant(RANDOM, None)]
    protocols = [PROTOCOLS["delete"], PROTOCOLS["lerf"]]
    whole = perturbation_curves(explainer, texts, variants, protocols)
    parts = [perturbation_curves(explainer, texts[:3], variants, protocols)]
    parts.append(perturbation_curves(explainer, texts[3:], variants, protocols))
    for index, part in enumerate(parts):
        part.save(tmp_path / f"part{index}.npz")
    pooled = Curves.load(tmp_path / "part0.npz", tmp_path / "part1.npz")
    np.testing.assert_allclose(pooled.p0, whole.p0, atol=1e-6)
    assert list(pooled.steps) == ["delete", "lerf"] and list(pooled.comprehensiveness) == ["delete"]
    for name in ("grad-input", RANDOM):
        np.testing.assert_allclose(pooled.steps["lerf"][name], whole.steps["lerf"][name], atol=1e-5)
        np.testing.assert_allclose(pooled.sufficiency["delete"][name], whole.sufficiency["delete"][name], atol=1e-5)
        for a, b in zip(pooled.relevance[name], whole.relevance[name], strict=True):
            np.testing.assert_allclose(a, b, atol=1e-6)


def write_data(path: Path, count: int, seed: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "text"])
        writer.writerows([e.label, e.text] for e in sentences(count, seed))
    return path


def test_evaluate_command_writes_the_report_and_the_page(tiny_artifact: Path, tmp_path: Path, capsys) -> None:
    data = write_data(tmp_path / "heldout.csv", 10, seed=2)
    out = tmp_path / "report"
    argv = ["evaluate", str(tiny_artifact), "--data", str(data), "--out", str(out), "--bootstrap", "50"]
    argv += ["--methods", "mask-lrp,transatt,rollout", "--random-masks", "2", "--page-texts", "2", "--quiet"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| random |" in printed and "## `delete`" in printed
    results = json.loads((out / "results.json").read_text())
    assert list(results["protocols"]) == ["pad", "mask", "delete", "lerf"]
    assert results["methods"] == ["mask-lrp", "transatt", "rollout", RANDOM]
    assert results["reference"] in ("mask-lrp", "transatt", "rollout")  # the best baseline by pad AOPC
    names = [v["name"] for v in results["variants"]]
    assert {"mask-lrp:all", "mask-lrp:none", "mask-lrp:random-0", "mask-lrp:random-1"} <= set(names)
    assert results["texts_evaluated"] + results["skipped_shorter_than_min_tokens"] == 10
    assert results["heads_kept"]["mask-lrp"] == 5  # the fixture masks 3 of 8 heads
    best = max(
        results["methods"][:3], key=lambda n: results["variants"][names.index(n)]["protocols"]["pad"]["aopc"]["mean"]
    )
    assert results["reference"] == best
    for variant in results["variants"]:
        pad, lerf = variant["protocols"]["pad"], variant["protocols"]["lerf"]
        assert pad["aopc"]["ci_low"] <= pad["aopc"]["mean"] <= pad["aopc"]["ci_high"]
        assert set(pad) == {"aopc", "log_odds", "comprehensiveness", "sufficiency", "probability"}
        assert set(lerf) == {"aopc", "srg", "probability"}
        assert lerf["srg"]["mean"] == pytest.approx(pad["aopc"]["mean"] - lerf["aopc"]["mean"], abs=1e-9)
        assert (pad["aopc"]["gain"] is None) == (variant["name"] == results["reference"])
        assert len(pad["probability"]) == 9
    assert results["texts_per_second"] > 0 and results["forward_tokens"] >= results["forward_sequences"]
    page = (out / "results.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 4 and page.count("<article>") == min(6, results["texts_evaluated"])
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # self-contained: nothing fetched
    assert "<script" not in page and 'name="viewport"' in page
    assert (out / "curves.png").stat().st_size > 10_000
    assert "Head-mask ablation" in (out / "results.md").read_text()
    with np.load(out / "curves.npz") as arrays:
        assert arrays["steps/delete/transatt"].shape == (results["texts_evaluated"], 9)
        assert arrays["comprehensiveness/mask/random"].shape == (results["texts_evaluated"], 5)


def test_evaluate_command_takes_protocols_and_a_reference(tiny_artifact: Path, tmp_path: Path) -> None:
    data = write_data(tmp_path / "heldout.csv", 8, seed=7)
    out = tmp_path / "report"
    argv = ["evaluate", str(tiny_artifact), "--data", str(data), "--out", str(out), "--bootstrap", "20", "--quiet"]
    argv += ["--methods", "attnlrp,grad-input", "--protocols", "lerf,delete", "--reference", "grad-input"]
    argv += ["--threads", "1"]
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert list(results["protocols"]) == ["lerf", "delete"] and results["reference"] == "grad-input"
    attnlrp = results["variants"][0]["protocols"]
    assert set(attnlrp["lerf"]) == {"aopc", "probability"}  # no SRG without the pad curve
    assert attnlrp["delete"]["aopc"]["gain"] is not None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--methods", "lime"], "has no method lime"),
        (["--protocols", "pad,shuffle"], "unknown protocol shuffle"),
        (["--methods", "attnlrp", "--reference", "rollout"], "--reference rollout is not among"),
        (["--threads", "0"], "--threads must be a positive number"),
    ],
)
def test_evaluate_command_rejects_bad_options(tiny_artifact: Path, tmp_path: Path, capsys, extra, message) -> None:
    data = tmp_path / "heldout.csv"
    data.write_text("label,text\n0,a fine film\n", encoding="utf-8")
    argv = ["evaluate", str(tiny_artifact), "--data", str(data), "--out", str(tmp_path), *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_evaluate_command_merges_and_pools_saved_curves(tiny_artifact: Path, tmp_path: Path, capsys) -> None:
    data = write_data(tmp_path / "heldout.csv", 12, seed=8)
    common = ["evaluate", str(tiny_artifact), "--data", str(data), "--bootstrap", "20", "--quiet"]
    common += ["--protocols", "pad,lerf"]

    def evaluate(out: str, *extra: str) -> dict:
        assert main([*common, "--out", str(tmp_path / out), *extra]) == 0
        return json.loads((tmp_path / out / "results.json").read_text())

    def aopc(results: dict, name: str) -> float:
        variant = next(v for v in results["variants"] if v["name"] == name)
        return variant["protocols"]["pad"]["aopc"]["mean"]

    whole = evaluate("whole", "--methods", "attnlrp")
    other = evaluate("other", "--methods", "grad-input")
    first = evaluate("first", "--methods", "attnlrp", "--limit", "5")
    rest = evaluate("rest", "--methods", "attnlrp", "--skip", "5")
    assert first["texts_evaluated"] + rest["texts_evaluated"] == whole["texts_evaluated"]

    merged = evaluate("merged", "--curves", str(tmp_path / "whole/curves.npz"), str(tmp_path / "other/curves.npz"))
    assert merged["methods"] == ["attnlrp", "grad-input", RANDOM]
    assert aopc(merged, "attnlrp") == aopc(whole, "attnlrp") and aopc(merged, "grad-input") == aopc(other, "grad-input")
    pooled = evaluate("pooled", "--curves", str(tmp_path / "first/curves.npz"), str(tmp_path / "rest/curves.npz"))
    assert aopc(pooled, "attnlrp") == pytest.approx(aopc(whole, "attnlrp"), abs=1e-6)
    assert pooled["forward_sequences"] == first["forward_sequences"] + rest["forward_sequences"]

    argv = [*common, "--out", str(tmp_path / "bad"), "--limit", "5", "--curves", str(tmp_path / "whole/curves.npz")]
    assert main(argv) == 2
    assert "other texts than --data selects" in capsys.readouterr().err

    # curves remember the artifact's graph: pooling refuses another artifact's, as evaluating with another does
    sha256 = json.loads((tiny_artifact / "manifest.json").read_text())["files"]["model.onnx"]["sha256"]
    assert whole["model_sha256"] == pooled["model_sha256"] == sha256
    for name in ("whole", "rest"):
        alien = Curves.load(tmp_path / name / "curves.npz")
        alien.model_sha256 = "0" * 64
        alien.save(tmp_path / f"alien-{name}.npz")
    argv = [*common, "--out", str(tmp_path / "bad"), "--curves"]
    assert main([*argv, str(tmp_path / "first/curves.npz"), str(tmp_path / "alien-rest.npz")]) == 2
    assert "computed with different artifacts" in capsys.readouterr().err
    assert main([*argv, str(tmp_path / "alien-whole.npz")]) == 2
    assert "computed with another artifact (model.onnx sha256 000000000000" in capsys.readouterr().err
