"""The Python API on the tiny exported BERT: batching, pruned sessions, targets, head masks, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from onnxplain.errors import UserError
from onnxplain.runtime import Explainer, Explanation
from onnxplain.runtime.tokenization import pad

TEXTS = [
    "A gripping, beautifully shot film.",
    "dull",
    "The plot meanders for two hours and the ending, frankly, makes no sense at all.",
    "Ça marche — naïve but charming!",
    "ok",
    "Not bad, not great; somewhere in between, with a few good jokes.",
    "I laughed.",
]


@pytest.fixture(scope="module")
def explainer(tiny_artifact: Path) -> Explainer:
    return Explainer.load(tiny_artifact, batch_size=3)


def assert_same(a: Explanation, b: Explanation) -> None:
    """Same explanation up to float32 rounding (batches of other shapes may sum in another order)."""
    assert (a.text, a.method, a.label, a.target, a.truncated) == (
        b.text,
        b.method,
        b.label,
        b.target,
        b.truncated,
    )
    assert [(t.text, t.start, t.end) for t in a.tokens] == [(t.text, t.start, t.end) for t in b.tokens]
    assert [(w.text, w.start, w.end) for w in a.words] == [(w.text, w.start, w.end) for w in b.words]
    for label, p in a.probabilities.items():
        assert p == pytest.approx(b.probabilities[label], abs=1e-6)
    scale = max(float(np.abs(a.relevance).max()), 1e-12)
    np.testing.assert_allclose(a.relevance, b.relevance, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("method", ["mask-lrp", "transatt", "attnlrp", "grad-input"])
def test_batched_results_equal_one_by_one(explainer: Explainer, method: str) -> None:
    batched = explainer.explain(TEXTS, method=method)
    assert [r.text for r in batched] == TEXTS
    for text, result in zip(TEXTS, batched, strict=True):
        [alone] = explainer.explain(text, method=method)
        assert_same(result, alone)


def test_every_method_from_a_pruned_session_equals_the_whole_graph(explainer: Explainer, tiny_artifact: Path) -> None:
    encodings = explainer.tokenize(TEXTS[:4])
    input_ids, attention_mask = pad(encodings, explainer.manifest.pad_token_id)
    everything = explainer.run(input_ids, attention_mask, methods=None)
    assert set(everything) == {"logits", *explainer.methods}
    whole = ort.InferenceSession(str(tiny_artifact / "model.onnx"), providers=["CPUExecutionProvider"])
    feeds = {"input_ids": input_ids, "attention_mask": attention_mask, "target": np.full(4, -1, np.int64)}
    feeds["head_mask"] = np.asarray(explainer.manifest.default_head_mask, np.float32)
    if "token_type_ids" in explainer.manifest.inputs:
        feeds["token_type_ids"] = np.zeros_like(input_ids)
    names = ["logits", *(explainer.manifest.output_name(m) for m in explainer.methods)]
    for name, value in zip(["logits", *explainer.methods], whole.run(names, feeds), strict=True):
        np.testing.assert_array_equal(everything[name], value)  # same graph, same session options
    only_logits = explainer.run(input_ids, attention_mask, methods=())
    assert set(only_logits) == {"logits"}
    np.testing.assert_allclose(only_logits["logits"], everything["logits"], rtol=1e-5, atol=1e-6)
    for method in explainer.methods:
        alone = explainer.run(input_ids, attention_mask, methods=(method,))
        assert set(alone) == {"logits", method} and alone[method].shape == input_ids.shape
        # ONNX Runtime optimises a smaller graph differently (float sums re-associated); the divisions of the
        # Chefer LRP rules amplify that to about 1e-3 of the relevance scale on this random model
        scale = float(np.abs(everything[method]).max())
        np.testing.assert_allclose(alone[method], everything[method], rtol=0, atol=5e-3 * scale)
        assert np.all(alone[method][attention_mask == 0] == 0), "padding must get zero relevance"


def test_result_has_the_documented_json_form(explainer: Explainer) -> None:
    [result] = explainer.explain(TEXTS[3])
    data = result.to_json()
    for key in ("text", "method", "label", "target", "probabilities", "tokens", "words", "truncated"):
        assert key in data
    assert data["method"] == "mask-lrp" and data["truncated"] is False
    assert set(data["probabilities"]) == set(explainer.labels.values())
    assert sum(data["probabilities"].values()) == pytest.approx(1.0)
    assert data["label"] == max(data["probabilities"], key=data["probabilities"].get)
    assert data["target"] == data["label"]
    for word in data["words"]:
        assert data["text"][word["start"] : word["end"]] == word["text"]
    specials = [t for t in data["tokens"] if t["special"]]
    assert len(specials) == 2 and all(t["start"] == t["end"] for t in specials)
    summed = sum(t["relevance"] for t in data["tokens"] if not t["special"])
    assert sum(w["relevance"] for w in data["words"]) == pytest.approx(summed, rel=1e-5, abs=1e-9)


def test_targets_by_name_index_and_per_text(explainer: Explainer) -> None:
    names = list(explainer.labels.values())
    by_name = explainer.explain(TEXTS[:3], target=names[1])
    assert [r.target for r in by_name] == [names[1]] * 3
    by_index = explainer.explain(TEXTS[:3], target=1)
    for a, b in zip(by_name, by_index, strict=True):
        np.testing.assert_array_equal(a.relevance, b.relevance)
    per_text = explainer.explain(TEXTS[:3], target=[0, names[2], None])
    assert [r.target for r in per_text] == [names[0], names[2], per_text[2].label]
    explained_other = explainer.explain(
        TEXTS[0], target=[i for i in range(len(names)) if names[i] != by_name[0].label][0]
    )
    assert not np.allclose(explained_other[0].relevance, explainer.explain(TEXTS[0])[0].relevance)


def test_head_mask_override_reaches_the_masked_methods_only(explainer: Explainer) -> None:
    default = explainer.explain(TEXTS[2], method="mask-lrp")[0]
    assert default.metadata["head_mask"] == "artifact default"
    stored = np.asarray(explainer.manifest.default_head_mask, dtype=np.float32)
    same = explainer.explain(TEXTS[2], method="mask-lrp", head_mask=stored)[0]
    assert same.metadata["head_mask"] == "caller's"
    np.testing.assert_allclose(same.relevance, default.relevance, rtol=1e-6, atol=1e-9)
    # Mask-LRP's rollout reads each layer's unmasked relevance, so a layer's mask acts on the layers below it
    # only: switching off the last layer's heads must change the result
    last_layer_off = stored.copy()
    last_layer_off[-1] = 0.0
    changed = explainer.explain(TEXTS[2], method="mask-lrp", head_mask=last_layer_off)[0]
    assert not np.allclose(changed.relevance, default.relevance)
    if "mask-attnlrp" in explainer.methods:  # here every layer's mask reaches the input relevance
        ones = np.ones_like(stored)
        kept = explainer.explain(TEXTS[2], method="mask-attnlrp", head_mask=ones)[0]
        assert not np.allclose(kept.relevance, explainer.explain(TEXTS[2], method="mask-attnlrp")[0].relevance)
    transatt = explainer.explain(TEXTS[2], method="transatt")[0]
    masked_transatt = explainer.explain(TEXTS[2], method="transatt", head_mask=np.zeros_like(stored))[0]
    np.testing.assert_array_equal(masked_transatt.relevance, transatt.relevance)


def test_long_text_is_truncated_with_a_warning(tiny_artifact: Path) -> None:
    short = Explainer.load(tiny_artifact, max_length=8)
    long_text = "one two three four five six seven eight nine ten"
    [result] = short.explain(long_text)
    assert result.truncated and len(result.tokens) == 8
    assert result.warnings and "8 tokens" in result.warnings[0]
    assert result.words[-1].end < len(long_text)
    assert not short.explain("one two")[0].truncated


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda e: e.explain("fine", method="no-such-method"), "unknown method"),
        (lambda e: e.explain("fine", target="no-such-label"), "unknown label"),
        (lambda e: e.explain("fine", target=99), "unknown label"),
        (lambda e: e.explain(["fine", "too"], target=[0]), "one per text"),
        (lambda e: e.explain(["fine", "   "]), "text 1 is empty"),
        (lambda e: e.explain(["fine", 3]), "not a string"),
        (lambda e: e.explain("fine", head_mask=np.ones((1, 1))), "head mask has shape"),
        (lambda e: e.run(np.ones((2, 3)), np.ones((2, 4))), "same shape"),
        (lambda e: e.run(np.ones((1, 3)), np.ones((1, 3)), target=np.array([7])), "target must hold"),
    ],
)
def test_bad_input_raises_one_clear_user_error(explainer: Explainer, call, message: str) -> None:
    with pytest.raises(UserError, match=message):
        call(explainer)


def test_bad_load_settings_raise_user_errors(tiny_artifact: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown device"):
        Explainer.load(tiny_artifact, device="tpu")
    with pytest.raises(UserError, match="outside"):
        Explainer.load(tiny_artifact, max_length=10_000)
    with pytest.raises(UserError, match="batch size"):
        Explainer.load(tiny_artifact, batch_size=0)
    with pytest.raises(UserError, match="not a directory"):
        Explainer.load(tmp_path / "missing")


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="CUDA is available here")
def test_cuda_without_a_provider_is_refused_and_auto_falls_back(tiny_artifact: Path) -> None:
    with pytest.raises(UserError, match="onnxruntime-gpu"):
        Explainer.load(tiny_artifact, device="cuda")
    auto = Explainer.load(tiny_artifact, device="auto")
    [result] = auto.explain("fine")
    assert result.metadata["device"] == "cpu" and "auto chose cpu" in result.metadata["device_note"]


def test_a_format_version_1_artifact_still_loads_and_explains_the_same(
    explainer: Explainer, tiny_artifact: Path, tmp_path: Path
) -> None:
    """Version 1 kept the default head mask as an initializer of the graph; this runtime still reads it."""
    from tests.artifact_versions import copy_as_format

    old = copy_as_format(tiny_artifact, tmp_path / "v1", 1)
    [then] = Explainer.load(old).explain(TEXTS[0], method="mask-lrp")
    [now] = explainer.explain(TEXTS[0], method="mask-lrp")
    np.testing.assert_allclose(then.relevance, now.relevance, rtol=1e-6, atol=1e-9)


def test_the_artifact_tokenizer_neither_pads_nor_cuts_below_the_model_limit(tiny_artifact: Path) -> None:
    import json

    config = json.loads((tiny_artifact / "tokenizer.json").read_text(encoding="utf-8"))
    manifest = json.loads((tiny_artifact / "manifest.json").read_text(encoding="utf-8"))
    assert config["padding"] is None
    assert config["truncation"]["max_length"] == manifest["max_length"]


def test_intra_op_spinning_reaches_every_session_and_changes_no_value(tiny_artifact: Path) -> None:
    texts = ["a gripping, beautifully acted film", "dull"]
    results = {}
    for spinning in (False, True):
        explainer = Explainer.load(tiny_artifact, intra_op_threads=2, intra_op_spinning=spinning)
        results[spinning] = explainer.explain(texts, method="mask-lrp")
        built = list(explainer._sessions._sessions.values())
        assert len(built) >= 1
        for session in built:
            entry = session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")
            assert entry == ("1" if spinning else "0")
    for quiet, spun in zip(results[False], results[True], strict=True):
        np.testing.assert_array_equal(np.asarray(quiet.relevance), np.asarray(spun.relevance))
