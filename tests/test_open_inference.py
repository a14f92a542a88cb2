"""The Open Inference Protocol (KServe V2) routes: in-process for the protocol's details and errors, and
``tritonclient.http`` (a real V2 client) against a running ``onnxplain serve`` on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from onnxplain.runtime import Explainer
from onnxplain.runtime.open_inference import default_model_name
from onnxplain.runtime.server import create_app
from onnxplain.runtime.server_limits import ServerLimits
from tests.servers import free_port, wait_until_up

LIMITS = ServerLimits(max_text_chars=200, max_texts=4, max_queued_texts=16, max_batch=8)
TEXTS = ["A gripping, beautifully shot film.", "dull", "Ça marche — naïve!"]


@pytest.fixture(scope="module")
def explainer(tiny_artifact: Path) -> Explainer:
    return Explainer.load(tiny_artifact, batch_size=LIMITS.max_batch)


@pytest.fixture(scope="module")
def client(explainer: Explainer) -> Iterator[TestClient]:
    with TestClient(create_app(explainer, LIMITS, model_name="tiny")) as client:
        yield client


def infer_json(texts: list[str], **parameters: object) -> dict:
    return {
        "inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(texts)], "data": texts}],
        "parameters": parameters,
    }


def test_health_metadata_and_a_json_infer(client: TestClient, explainer: Explainer) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2/models/tiny/ready").json() == {"name": "tiny", "ready": True}
    about = client.get("/v2/models/tiny").json()
    assert about["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    outputs = {o["name"]: o for o in about["outputs"]}
    assert outputs["logits"] == {"name": "logits", "datatype": "FP32", "shape": [-1, len(explainer.labels)]}
    response = client.post("/v2/models/tiny/infer", json={"id": "r1", **infer_json(TEXTS, method="transatt")})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["id"] == "r1" and body["model_name"] == "tiny" and body["parameters"] == {"method": "transatt"}
    got = {o["name"]: o for o in body["outputs"]}
    expected = explainer.explain(TEXTS, method="transatt")
    longest = max(len(e.tokens) for e in expected)
    assert got["relevance"]["shape"] == [3, longest]
    relevance = np.asarray(got["relevance"]["data"], dtype=np.float32).reshape(3, longest)
    for row, result in enumerate(expected):
        count = got["token_count"]["data"][row]
        assert count == len(result.tokens)
        np.testing.assert_allclose(relevance[row, :count], result.relevance, rtol=0, atol=1e-6)
        assert not relevance[row, count:].any()  # padded with zeros after the text's last token
        assert json.loads(got["words"]["data"][row]) == [w.to_json() for w in result.words]
        assert json.loads(got["tokens"]["data"][row]) == [t.to_json() for t in result.tokens]
        assert got["label"]["data"][row] == result.label and got["target"]["data"][row] == result.target
    logits = np.asarray(got["logits"]["data"], dtype=np.float32).reshape(3, -1)
    np.testing.assert_allclose(logits, [r.logits for r in expected], rtol=0, atol=1e-6)


def test_requested_outputs_and_a_target_for_every_text(client: TestClient, explainer: Explainer) -> None:
    label = explainer.labels[1]
    request = {**infer_json(TEXTS[:2], target=label), "outputs": [{"name": "target"}, {"name": "logits"}]}
    body = client.post("/v2/models/tiny/infer", json=request).json()
    assert [o["name"] for o in body["outputs"]] == ["target", "logits"]
    assert body["outputs"][0]["data"] == [label, label]


BAD = [
    (b"{not json", 400, "not valid JSON"),
    (b'{"inputs": "text"}', 400, '"inputs" list'),
    (json.dumps({"inputs": [{"name": "words", "datatype": "BYTES", "shape": [1], "data": ["a"]}]}), 400, "exactly one"),
    (json.dumps({"inputs": [{"name": "text", "datatype": "INT64", "shape": [1], "data": [1]}]}), 400, "BYTES"),
    (json.dumps({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": ["a"]}]}), 400, "agree"),
    (json.dumps(infer_json(["fine"], colour="red")), 400, "unknown parameter(s) colour"),
    (json.dumps({**infer_json(["fine"]), "outputs": [{"name": "nope"}]}), 400, "unknown output 'nope'"),
    (json.dumps(infer_json([""])), 422, "texts[0] is empty"),
    (json.dumps(infer_json(["fine"], method="nope")), 422, "unknown method 'nope'"),
    (json.dumps(infer_json(["fine"], target="nope")), 422, "unknown label 'nope'"),
    (json.dumps(infer_json(["x" * 201])), 413, "more than the 200 allowed"),
    (json.dumps(infer_json(["a"] * 5)), 413, "more than the 4 allowed"),
]


@pytest.mark.parametrize("body, status, message", BAD, ids=[f"{s}-{m}" for _, s, m in BAD])
def test_bad_infer_requests_get_a_clear_error(client: TestClient, body: str | bytes, status: int, message: str) -> None:
    response = client.post("/v2/models/tiny/infer", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert message in response.json()["error"] and response.json()["status"] == status
    assert client.post("/v2/models/tiny/infer", json=infer_json(["still here"])).status_code == 200


def test_an_unknown_model_is_404(client: TestClient) -> None:
    for path in ("/v2/models/other", "/v2/models/tiny/versions/2", "/v2/models/other/ready"):
        assert client.get(path).status_code == 404
    response = client.post("/v2/models/other/infer", json=infer_json(["a"]))
    assert response.status_code == 404 and "'tiny'" in response.json()["error"]


def test_the_default_model_name_is_the_artifact_folder(explainer: Explainer, tmp_path: Path) -> None:
    assert default_model_name(explainer) == explainer.directory.resolve().name


@pytest.fixture(scope="module")
def served(tiny_artifact: Path) -> Iterator[str]:
    """``onnxplain serve`` in a child process on 127.0.0.1; its address."""
    port = free_port()
    command = [sys.executable, "-m", "onnxplain", "serve", str(tiny_artifact), "--port", str(port), "--max-texts", "8"]
    server = subprocess.Popen(command, env=os.environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/v2/health/ready", server, timeout=120)
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_tritonclient_gets_the_explainers_logits_and_relevance(served: str, explainer: Explainer, binary: bool) -> None:
    import tritonclient.http as triton

    name = default_model_name(explainer)
    with_client = triton.InferenceServerClient(served, connection_timeout=30, network_timeout=60)
    try:
        assert with_client.is_server_live() and with_client.is_server_ready()
        assert with_client.is_model_ready(name)
        metadata = with_client.get_model_metadata(name)
        assert {o["name"] for o in metadata["outputs"]} >= {"logits", "relevance", "tokens", "words"}
        text = triton.InferInput("text", [len(TEXTS)], "BYTES")
        text.set_data_from_numpy(np.asarray([t.encode() for t in TEXTS], dtype=object), binary_data=binary)
        outputs = [triton.InferRequestedOutput(n, binary_data=binary) for n in ("logits", "relevance", "token_count")]
        outputs.append(triton.InferRequestedOutput("words", binary_data=binary))
        result = with_client.infer(name, [text], outputs=outputs, parameters={"method": "attnlrp", "target": 0})
        expected = explainer.explain(TEXTS, method="attnlrp", target=0)
        logits = [e.logits for e in expected]
        np.testing.assert_allclose(result.as_numpy("logits"), logits, rtol=0, atol=1e-6)
        relevance, counts = result.as_numpy("relevance"), result.as_numpy("token_count")
        assert relevance.dtype == np.float32 and relevance.shape == (len(TEXTS), max(counts))
        for row, explanation in enumerate(expected):
            np.testing.assert_allclose(relevance[row, : counts[row]], explanation.relevance, rtol=0, atol=1e-6)
            words = result.as_numpy("words")[row]
            assert json.loads(words) == [w.to_json() for w in explanation.words]
        everything = with_client.infer(name, [text])  # no outputs named: all of them, as binary data
        assert {o["name"] for o in everything.get_response()["outputs"]} == {o["name"] for o in metadata["outputs"]}
        with pytest.raises(triton.InferenceServerException, match="unknown method 'nope'"):
            with_client.infer(name, [text], parameters={"method": "nope"})
    finally:
        with_client.close()
