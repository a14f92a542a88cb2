"""Every architecture beyond BERT exports, and its graph equals eager PyTorch in ONNX Runtime at shapes it
was not traced at (left and right padding for decoders); the runtime then explains with it.

Exports are slow (a minute or two each on a busy 2-core machine), so models have one layer and, but for
GPT-2 which exports every method, one method per rule set (Chefer + gradient, CP-LRP, AttnLRP, masked)."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from onnxplain.export import export_model
from onnxplain.export.checkpoint import load_checkpoint
from onnxplain.export.registry import METHOD_NAMES
from onnxplain.export.verify import check_against_eager
from onnxplain.runtime import Explainer, artifact
from tests.contract import assert_matches_contract
from tests.graph_structure import weights_expanded_to_a_batch
from tests.tiny_models import build_tiny_classifier

RULE_SET_METHODS = ["mask-lrp", "attnlrp", "mask-cp-lrp"]
CASES = [
    ("gpt2", "sequence-classification", list(METHOD_NAMES), "last-real-token"),
    ("llama", "causal-lm", RULE_SET_METHODS, "last-real-token"),
    ("mpnet", "sequence-classification", RULE_SET_METHODS, "first-token"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("architecture", "task", "methods", "position"), CASES)
def test_export_equals_eager_and_explains(
    architecture: str, task: str, methods: list[str], position: str, tmp_path: Path
) -> None:
    model_dir = build_tiny_classifier(tmp_path / "model", architecture, seed=7, task=task, num_hidden_layers=1)
    out = export_model(model_dir, tmp_path / "artifact", methods=methods)  # checks (1, 5) and (4, 23) itself
    checkpoint = load_checkpoint(model_dir)
    has_token_types = checkpoint.weights.token_type_embeddings is not None
    worst = check_against_eager(
        checkpoint.weights, methods, has_token_types, out / artifact.MODEL_FILE, shapes=((2, 9), (5, 31))
    )
    assert set(worst) == {"logits", *methods}
    assert weights_expanded_to_a_batch(onnx.load(str(out / artifact.MODEL_FILE), load_external_data=False)) == []

    manifest = assert_matches_contract(out)  # the manifest against its JSON Schema
    assert (manifest["architecture"], manifest["task"], manifest["explained_position"]) == (
        architecture,
        task,
        position,
    )
    explainer = Explainer.load(out)
    texts = ["a film", "a film that takes its time and earns every minute of it"]
    batched = explainer.explain(texts, method=methods[0])
    alone = explainer.explain(texts[0], method=methods[0])[0]
    # the short text is padded in the batch: its explanation must not change
    for together, single in zip(batched[0].tokens, alone.tokens, strict=True):
        assert together.relevance == pytest.approx(single.relevance, rel=1e-3, abs=1e-6)
    assert batched[0].target == alone.target
    assert explainer.task.name == task
    if task == "causal-lm":  # the vocabulary is the labels: the next token to explain, by spelling or by id
        from starlette.testclient import TestClient

        from onnxplain.runtime.server import create_app

        token = explainer.labels[1037]
        [by_name] = explainer.explain(texts[0], method=methods[0], target=token)
        [by_id] = explainer.explain(texts[0], method=methods[0], target=1037)
        assert by_name.target == by_id.target == token
        with TestClient(create_app(explainer)) as client:
            response = client.post("/explain", json={"text": texts[0], "method": methods[0], "target": token})
            assert response.status_code == 200 and response.json()["results"] == [by_name.to_json()]
            refused = client.post("/explain", json={"text": texts[0], "target": "no such token"})
            assert refused.status_code == 422 and "unknown label 'no such token'" in refused.json()["error"]
