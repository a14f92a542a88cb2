"""`onnxplain-js explain` and `onnxplain explain --format json` agree on the real MiniLM demo artifact, for
texts with emoji, accents and CJK, with the artifact's head mask and with an override: token ids (through
the tokens), spans and words exactly, numbers within 1e-5 of the method's scale. The same for its int8 copy,
whose integer products and row-wise quantisation run in both bindings, and which follows the fp32 artifact.

Needs the JavaScript client built (`make js-build`, which `make test` runs first).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from onnxplain.export.fidelity import spearman
from onnxplain.runtime import Explainer
from onnxplain.runtime.render import render_json

CLI = Path(__file__).resolve().parents[1] / "clients" / "js" / "dist" / "cli.js"
TEXTS = [
    "Hello 😀 world, what a film 🎬!",
    "Ça, c'est naïve — café crème, très réussi.",
    "東京の映画は素晴らしい, 𠀀 and 👨‍👩‍👧 too",
    "A gripping, beautifully shot film.",
]
RELATIVE = 1e-5


def node_cli(*args: str) -> str:
    if shutil.which("node") is None or not CLI.exists():
        pytest.fail(f"{CLI} is missing; build the JavaScript client first: make js-build (Node 20 and npm needed)")
    done = subprocess.run(["node", str(CLI), "explain", *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


def assert_same(ours: str, theirs: str) -> None:
    js, py = json.loads(ours)["results"], json.loads(theirs)["results"]
    assert len(js) == len(py)
    scale = max(abs(t["relevance"]) for r in py for t in r["tokens"])
    for a, b in zip(js, py, strict=True):
        for key in ("text", "method", "label", "target", "truncated", "warnings", "metadata"):
            assert a[key] == b[key], key
        for kind in ("tokens", "words"):
            assert [{k: v for k, v in t.items() if k != "relevance"} for t in a[kind]] == [
                {k: v for k, v in t.items() if k != "relevance"} for t in b[kind]
            ]
            np.testing.assert_allclose(
                [t["relevance"] for t in a[kind]], [t["relevance"] for t in b[kind]], rtol=0, atol=RELATIVE * scale * 4
            )
        assert a["probabilities"].keys() == b["probabilities"].keys()
        np.testing.assert_allclose(list(a["probabilities"].values()), list(b["probabilities"].values()), atol=RELATIVE)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["mask-lrp", "attnlrp"])
def test_cli_agrees_with_python_on_minilm(minilm_demo_artifact: Path, method: str) -> None:
    # the texts right after the artifact: argparse takes no positional after the options
    command = [sys.executable, "-m", "onnxplain", "explain", str(minilm_demo_artifact), *TEXTS]
    python = subprocess.run(
        [*command, "--format", "json", "--method", method],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    ).stdout
    assert_same(node_cli(str(minilm_demo_artifact), "--method", method, *TEXTS), python)


@pytest.fixture(scope="module")
def minilm_int8_artifact(minilm_demo_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo artifact's graph in int8 (``onnxplain quantize``'s graph, without its fidelity measures)."""
    import onnx

    from onnxplain.export.precision import name_nodes, write_reduced
    from onnxplain.runtime.artifact import MODEL_FILE, read_manifest

    model = onnx.load(str(minilm_demo_artifact / MODEL_FILE))
    name_nodes(model)
    out = tmp_path_factory.mktemp("minilm-int8") / "artifact"
    write_reduced(out, minilm_demo_artifact, model, read_manifest(minilm_demo_artifact), "int8")
    return out


@pytest.mark.slow
@pytest.mark.parametrize("method", ["mask-lrp", "cp-lrp"])
def test_int8_minilm_agrees_across_bindings_and_follows_fp32(
    minilm_demo_artifact: Path, minilm_int8_artifact: Path, method: str
) -> None:
    command = [sys.executable, "-m", "onnxplain", "explain", str(minilm_int8_artifact), *TEXTS]
    python = subprocess.run(
        [*command, "--format", "json", "--method", method], capture_output=True, text=True, timeout=600, check=True
    ).stdout
    assert_same(node_cli(str(minilm_int8_artifact), "--method", method, *TEXTS), python)
    reduced = Explainer.load(minilm_int8_artifact).explain(TEXTS, method=method)
    full = Explainer.load(minilm_demo_artifact).explain(TEXTS, method=method)
    for a, b in zip(reduced, full, strict=True):
        assert a.label == b.label
        correlation = spearman(np.array([t.relevance for t in a.tokens]), np.array([t.relevance for t in b.tokens]))
        assert correlation > 0.9, (a.text, correlation)


@pytest.mark.slow
def test_cli_head_mask_override_agrees_with_python_on_minilm(minilm_demo_artifact: Path) -> None:
    explainer = Explainer.load(minilm_demo_artifact)
    mask = np.zeros((explainer.manifest.num_layers, explainer.manifest.num_heads), dtype=np.float32)
    mask[:, ::3] = 1.0  # every third head of every layer
    python = render_json(explainer.explain(TEXTS, method="mask-lrp", head_mask=mask))
    default = render_json(explainer.explain(TEXTS, method="mask-lrp"))
    ours = node_cli(str(minilm_demo_artifact), "--method", "mask-lrp", "--head-mask", json.dumps(mask.tolist()), *TEXTS)
    assert_same(ours, python)
    with pytest.raises(AssertionError):  # the override matters, so agreeing on it means something
        assert_same(ours, default)
