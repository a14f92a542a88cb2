"""Golden outputs of the Python runtime for the JavaScript client's parity tests (clients/js/test).

Writes the tiny exported artifact and, for every text of ``js_parity_texts``, its tokens (ids, spans, words)
and, for every method, the logits, the relevance and ``Explanation.to_json()``, with the artifact's head mask
and with an override, to ``clients/js/test/golden/`` (or ``$ONNXPLAIN_JS_GOLDEN``). The JS tests (Node and
headless Chromium) read them; CI runs this test before them. Also checks what the goldens must hold, so that
a broken writer fails here and not as a puzzling mismatch in JavaScript.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from onnxplain.runtime import Explainer
from onnxplain.runtime.artifact import LOGITS
from onnxplain.runtime.pruning import needed_names
from onnxplain.runtime.render import render_html, render_json
from onnxplain.runtime.tokenization import pad
from tests.artifact_versions import copy_as_format
from tests.js_parity_texts import PARITY_TEXTS

GOLDEN_DIR = Path(
    os.environ.get("ONNXPLAIN_JS_GOLDEN", Path(__file__).parents[1] / "clients" / "js" / "test" / "golden")
)
BATCH_SIZE = 16


def override_mask(layers: int, heads: int) -> np.ndarray:
    """A head mask unlike the artifact's: a checkerboard, so every layer keeps some heads and drops others."""
    return ((np.arange(layers)[:, None] + np.arange(heads)[None, :]) % 2).astype(np.float32)


def encoding_json(explainer: Explainer, texts: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        {
            "ids": e.ids.tolist(),
            "tokens": list(e.tokens),
            "offsets": [list(o) for o in e.offsets],
            "special": e.special.tolist(),
            "word_ids": list(e.word_ids),
            "truncated": e.truncated,
        }
        for e in explainer.tokenize(list(texts))
    ]


def method_runs(explainer: Explainer, texts: tuple[str, ...], mask: np.ndarray) -> list[dict[str, Any]]:
    """Per method (and per head mask for head-masked methods): raw outputs of one padded batch and the
    explanations, predicted target."""
    encodings = explainer.tokenize(list(texts))
    input_ids, attention_mask = pad(encodings, explainer.manifest.pad_token_id)
    runs = []
    for method in explainer.methods:
        for label, head_mask in (("default", None), ("override", mask)):
            if head_mask is not None and not explainer.manifest.methods[method].reads_head_mask:
                continue
            outputs = explainer.run(input_ids, attention_mask, (method,), None, head_mask)
            results = explainer.explain(list(texts), method=method, head_mask=head_mask)
            runs.append(
                {
                    "method": method,
                    "head_mask": label,
                    "target": None,
                    "logits": outputs[LOGITS].astype(np.float64).tolist(),
                    "relevance": [
                        outputs[method][i, : len(e)].astype(np.float64).tolist() for i, e in enumerate(encodings)
                    ],
                    "results": [r.to_json() for r in results],
                }
            )
    return runs


def target_runs(explainer: Explainer, texts: tuple[str, ...]) -> list[dict[str, Any]]:
    """Explanations of given targets: one label name for all texts, and one label index per text."""
    labels = explainer.labels
    per_text = [i % len(labels) for i in range(len(texts))]
    runs = []
    for target in (labels[len(labels) - 1], per_text):
        results = explainer.explain(list(texts), method=explainer.default_method, target=target)
        runs.append(
            {
                "method": explainer.default_method,
                "head_mask": "default",
                "target": target,
                "results": [r.to_json() for r in results],
            }
        )
    return runs


def pruned_node_counts(artifact: Path, methods: tuple[str, ...], outputs: dict[str, str]) -> dict[str, int]:
    graph = onnx.load(str(artifact / "model.onnx"), load_external_data=False).graph
    counts = {"": len(needed_names(graph, [LOGITS])[0]), "*": len(graph.node)}
    counts.update({m: len(needed_names(graph, [LOGITS, outputs[m]])[0]) for m in methods})
    return counts


def write_version_1(artifact: Path, out: Path) -> None:
    """The artifact as format version 1 wrote it: ``head_mask`` an input with the default as an initializer,
    which onnxruntime-node ignores an override of; the JS client must still honour overrides."""
    copy_as_format(artifact, out, 1)


def float_reprs() -> list[tuple[float, str]]:
    """Floats of every magnitude with Python's repr, to check the JS printer's notation."""
    values = [
        0.0,
        -0.0,
        1.0,
        -2.5,
        0.1,
        1e-4,
        1e-5,
        1.5e-7,
        123456789.0,
        1e15,
        1e16,
        1.2345e16,
        1e22,
        5e-324,
        1.7976931348623157e308,
    ]
    values += np.random.default_rng(0).standard_normal(200).tolist()
    values += (np.random.default_rng(1).standard_normal(200) * 10.0 ** np.arange(-12, 13).repeat(8)).tolist()
    return [(v, repr(v)) for v in values]


SENSITIVITY_DRAWS = 8


def float32_sensitivity(artifact: Path, explainer: Explainer, texts: tuple[str, ...]) -> dict[str, float]:
    """How far each method's relevance moves (over its scale) when every weight moves by one float32 unit in
    the last place, the largest over ``SENSITIVITY_DRAWS`` random draws of the signs: the spread to expect
    between ONNX Runtime builds whose kernels round differently (the WASM build in a browser against the
    native CPU build). LRP chains that divide by small sums amplify it. In an int8 graph the spread is not
    smooth: a value that lands on a rounding boundary of its row's quantisation becomes a different integer
    in the other build, so one draw can miss what the next one finds (on the tiny int8 artifact one draw saw
    3e-6 of Partial LRP's scale, another 8e-3); the largest over several draws is the honest bound."""
    import onnxruntime as ort
    from onnx import numpy_helper

    encodings = explainer.tokenize(list(texts))
    input_ids, attention_mask = pad(encodings, explainer.manifest.pad_token_id)
    feeds = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "token_type_ids": np.zeros_like(input_ids),
        "target": np.full(len(texts), -1, dtype=np.int64),
        "head_mask": np.asarray(explainer.manifest.default_head_mask, dtype=np.float32),
    }
    options = ort.SessionOptions()
    options.log_severity_level = 3
    names = [explainer.manifest.output_name(m) for m in explainer.methods]

    def outputs(model: onnx.ModelProto) -> list[np.ndarray]:
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        return session.run(names, feeds)

    model = onnx.load(str(artifact / "model.onnx"))
    base = outputs(model)
    worst = dict.fromkeys(explainer.methods, 0.0)
    for draw in range(SENSITIVITY_DRAWS):
        perturbed = onnx.ModelProto()
        perturbed.CopyFrom(model)
        rng = np.random.default_rng(draw)
        for tensor in perturbed.graph.initializer:
            values = numpy_helper.to_array(tensor)
            if values.dtype == np.float32 and values.size > 16:
                ulp = 1 + rng.choice([-1.0, 1.0], values.shape) * 2.0**-24
                tensor.CopyFrom(numpy_helper.from_array((values * ulp).astype(np.float32), tensor.name))
        for method, a, b in zip(explainer.methods, base, outputs(perturbed), strict=True):
            worst[method] = max(worst[method], float(np.abs(a - b).max() / np.abs(a).max()))
    return worst


def test_write_js_goldens(tiny_artifact: Path) -> None:
    explainer = Explainer.load(tiny_artifact, batch_size=BATCH_SIZE)
    manifest = explainer.manifest
    mask = override_mask(manifest.num_layers, manifest.num_heads)
    for old in ("artifact", "artifact-v1"):  # this test's files only: the other tests write beside them
        shutil.rmtree(GOLDEN_DIR / old, ignore_errors=True)
    shutil.copytree(tiny_artifact, GOLDEN_DIR / "artifact")
    write_version_1(tiny_artifact, GOLDEN_DIR / "artifact-v1")
    sample = list(PARITY_TEXTS[:6])
    golden = {
        "artifact": "artifact",
        "batch_size": BATCH_SIZE,
        "max_length": explainer.max_length,
        "texts": list(PARITY_TEXTS),
        "head_mask_override": mask.tolist(),
        "encodings": encoding_json(explainer, PARITY_TEXTS),
        "runs": method_runs(explainer, PARITY_TEXTS, mask) + target_runs(explainer, PARITY_TEXTS),
        "pruned_nodes": pruned_node_counts(
            tiny_artifact, explainer.methods, {m: manifest.output_name(m) for m in explainer.methods}
        ),
        # what `onnxplain explain --format json` prints, to check the JS printer's formatting character by character
        "float_reprs": float_reprs(),
        "float32_sensitivity": float32_sensitivity(tiny_artifact, explainer, PARITY_TEXTS),
        "cli_sample": {"texts": sample, "output": render_json(explainer.explain(sample))},
        # what `onnxplain explain --format html` shows for one text, to check the browser page's colours
        "html_sample": [{"text": t, "output": render_html(explainer.explain([t]))} for t in sample[:3]],
    }
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    (GOLDEN_DIR / "golden.json").write_text(json.dumps(golden, ensure_ascii=False), encoding="utf-8")

    # what the JS tests rely on
    encodings = golden["encodings"]
    assert len(encodings) == len(PARITY_TEXTS) >= 50
    assert sum(e["truncated"] for e in encodings) >= 1, "one text must be over the tiny model's limit"
    assert any(len(t) != len(t.encode("utf-16-le")) // 2 for t in PARITY_TEXTS), "astral characters are missing"
    for text, encoding in zip(PARITY_TEXTS, encodings, strict=True):
        assert all(0 <= s <= e <= len(text) for s, e in encoding["offsets"])
    masked = [r for r in golden["runs"] if r["head_mask"] == "override"]
    assert {r["method"] for r in masked} == {m for m in explainer.methods if manifest.methods[m].reads_head_mask}
    for run in masked:  # the override must change the relevance, or the JS test of it proves nothing
        default = next(r for r in golden["runs"] if r["method"] == run["method"] and r["head_mask"] == "default")
        assert not np.allclose(np.concatenate(default["relevance"]), np.concatenate(run["relevance"]))
    version_1 = Explainer.load(GOLDEN_DIR / "artifact-v1", batch_size=BATCH_SIZE)
    assert version_1.manifest.format_version == 1
    for head_mask in (None, mask):
        ours = [r.to_json() for r in version_1.explain(sample, method="mask-lrp", head_mask=head_mask)]
        assert ours == [r.to_json() for r in explainer.explain(sample, method="mask-lrp", head_mask=head_mask)]
    assert golden["pruned_nodes"][""] < golden["pruned_nodes"]["mask-lrp"] < golden["pruned_nodes"]["*"]


QA_PAIRS = (
    ("Who directed it?", "It was directed by Agnès Varda in 1962 😀."),
    ("Where? 東京", "The film was shot in Tokyo, 東京, and in Paris."),
    ("What is long?", " ".join(["This context keeps going with many words"] * 12)),
)


def test_write_js_question_answering_goldens(tiny_qa_artifact: Path) -> None:
    """A question answering artifact: every method's `AnswerExplanation.to_json()` and the CLI's document."""
    from onnxplain.runtime.render.answers import render_answers_json

    explainer = Explainer.load(tiny_qa_artifact, batch_size=2)
    target = GOLDEN_DIR / "qa-artifact"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(tiny_qa_artifact, target)
    questions, contexts = [q for q, _ in QA_PAIRS], [c for _, c in QA_PAIRS]
    runs = [
        {"method": m, "results": [r.to_json() for r in explainer.explain(list(QA_PAIRS), method=m)]}
        for m in explainer.methods
    ]
    golden = {
        "batch_size": 2,
        "questions": questions,
        "contexts": contexts,
        "runs": runs,
        "cli_output": render_answers_json(explainer.explain(list(QA_PAIRS))),
    }
    (GOLDEN_DIR / "qa.json").write_text(json.dumps(golden, ensure_ascii=False), encoding="utf-8")
    assert any(r["truncated"] for r in runs[0]["results"]), "one context must be cut"
    assert any(t["segment"] == 1 for t in runs[0]["results"][0]["tokens"])


def test_write_js_causal_lm_goldens(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A causal language model artifact (tiny Llama, WordPiece tokenizer): its labels are the vocabulary, so
    targets can be tokens; explanations of the predicted next token and of a chosen one."""
    from onnxplain.export import export_model
    from tests.tiny_models import build_tiny_classifier

    model_dir = build_tiny_classifier(tmp_path_factory.mktemp("tiny-lm"), "llama", seed=6, task="causal-lm")
    target = GOLDEN_DIR / "lm-artifact"
    if target.exists():
        shutil.rmtree(target)
    export_model(model_dir, target, methods=["grad-input"])  # one method: the JSON form is what is tested
    explainer = Explainer.load(target)
    texts = ["The film was", "Hello 😀 world, the"]
    runs = [
        {"method": m, "target": t, "results": [r.to_json() for r in explainer.explain(texts, method=m, target=t)]}
        for m in explainer.methods
        for t in (None, "movie")
    ]
    (GOLDEN_DIR / "lm.json").write_text(json.dumps({"texts": texts, "runs": runs}, ensure_ascii=False), "utf-8")
    assert explainer.manifest.task == "causal-lm" and len(explainer.labels) > 30000
    assert runs[1]["results"][0]["target"] == "movie"


def test_write_js_int8_goldens(tiny_artifact: Path) -> None:
    """The tiny artifact in int8 (``onnxplain quantize``'s graph: integer products, rows quantised one by one):
    every method's logits, relevance and explanations, with the artifact's head mask and an override, for the
    JavaScript client to reproduce in Node and in the browser's WASM build."""
    from onnxplain.export.precision import name_nodes, write_reduced
    from onnxplain.runtime.artifact import MODEL_FILE, read_manifest

    manifest = read_manifest(tiny_artifact)
    model = onnx.load(str(tiny_artifact / MODEL_FILE))
    name_nodes(model)
    target = GOLDEN_DIR / "int8-artifact"
    shutil.rmtree(target, ignore_errors=True)
    write_reduced(target, tiny_artifact, model, manifest, "int8")
    explainer = Explainer.load(target, batch_size=BATCH_SIZE)
    assert explainer.manifest.precision == "int8"
    texts = tuple(PARITY_TEXTS[:12])
    mask = override_mask(manifest.num_layers, manifest.num_heads)
    golden = {
        "artifact": "int8-artifact",
        "batch_size": BATCH_SIZE,
        "texts": list(texts),
        "head_mask_override": mask.tolist(),
        "runs": method_runs(explainer, texts, mask),
        "float32_sensitivity": float32_sensitivity(target, explainer, texts),
    }
    (GOLDEN_DIR / "int8.json").write_text(json.dumps(golden, ensure_ascii=False), encoding="utf-8")
    operators = {node.op_type for node in onnx.load(str(target / MODEL_FILE), load_external_data=False).graph.node}
    assert {"MatMulInteger", "QuantizeLinear"} <= operators
    fp32 = Explainer.load(tiny_artifact, batch_size=BATCH_SIZE)
    for run in golden["runs"]:  # int8, not the fp32 graph again: the JS test of it would prove nothing new
        if run["head_mask"] == "default":
            outputs = fp32.run(*pad(fp32.tokenize(list(texts)), manifest.pad_token_id), (run["method"],))
            assert not np.allclose(run["logits"], outputs[LOGITS], rtol=1e-6, atol=0)
