"""The HTTP server in-process: the Python API's JSON, every bad input refused clearly, and still up after."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from onnxplain.runtime import Explainer
from onnxplain.runtime.server import create_app
from onnxplain.runtime.server_limits import ServerLimits

LIMITS = ServerLimits(max_text_chars=200, max_texts=4, max_queued_texts=6, max_batch=8)


@pytest.fixture(scope="module")
def explainer(tiny_artifact: Path) -> Explainer:
    return Explainer.load(tiny_artifact, batch_size=LIMITS.max_batch)


@pytest.fixture(scope="module")
def client(explainer: Explainer) -> Iterator[TestClient]:
    with TestClient(create_app(explainer, LIMITS)) as client:
        yield client


def as_json(results: list) -> list:
    return json.loads(json.dumps([r.to_json() for r in results]))


def test_answers_equal_the_python_api(client: TestClient, explainer: Explainer) -> None:
    texts = ["A gripping, beautifully shot film.", "dull", "Ça marche — naïve!"]
    one = client.post("/explain", json={"text": texts[0]})
    assert one.status_code == 200
    assert one.json()["results"] == as_json(explainer.explain(texts[0]))
    label = explainer.labels[2]
    many = client.post("/explain", json={"texts": texts, "method": "transatt", "target": label})
    assert many.status_code == 200
    assert many.json()["results"] == as_json(explainer.explain(texts, method="transatt", target=label))
    per_text = client.post("/explain", json={"texts": texts[:2], "target": [0, label]})
    assert [r["target"] for r in per_text.json()["results"]] == [explainer.labels[0], label]


BAD = [
    (b"{not json", 400, "not valid JSON"),
    (b"\xff\xfe", 400, "not valid JSON"),
    (b"[1, 2]", 422, "JSON object"),
    (b"{}", 422, 'either "text"'),
    (b'{"text": "a", "texts": ["b"]}', 422, 'either "text"'),
    (b'{"texts": []}', 422, "non-empty list"),
    (b'{"texts": "one string"}', 422, "non-empty list"),
    (b'{"text": ""}', 422, "text 0 is empty"),
    (b'{"texts": ["fine", "  "]}', 422, "text 1 is empty"),
    (b'{"text": 42}', 422, "not a string"),
    (b'{"text": "fine", "method": "nope"}', 422, "unknown method 'nope'"),
    (b'{"text": "fine", "target": "nope"}', 422, "unknown label 'nope'"),
    (b'{"text": "fine", "target": 99}', 422, "unknown label 99"),
    (b'{"text": "fine", "target": true}', 422, '"target" must be'),
    (b'{"texts": ["a", "b"], "target": [0]}', 422, "one per text"),
    (b'{"text": "fine", "colour": "red"}', 422, "unknown field(s) colour"),
    (json.dumps({"text": "x" * 201}).encode(), 413, "more than the 200 allowed"),
    (json.dumps({"texts": ["a"] * 5}).encode(), 413, "more than the 4 allowed"),
    (b" " * (LIMITS.max_body_bytes + 1), 413, "request body"),
]


@pytest.mark.parametrize("body, status, message", BAD, ids=[f"{s}-{m}" for _, s, m in BAD])
def test_bad_requests_get_a_clear_error_and_the_server_stays_up(
    client: TestClient, body: bytes, status: int, message: str
) -> None:
    response = client.post("/explain", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert response.json()["status"] == status and message in response.json()["error"]
    assert client.get("/health").json()["status"] == "ok"
    assert client.post("/explain", json={"text": "still here"}).status_code == 200


def test_a_full_queue_answers_503_with_retry_after(explainer: Explainer) -> None:
    limits = ServerLimits(max_texts=8, max_queued_texts=3)
    with TestClient(create_app(explainer, limits)) as client:
        response = client.post("/explain", json={"texts": ["a", "b", "c", "d"]})
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        assert "busy" in response.json()["error"]
        assert client.post("/explain", json={"texts": ["a", "b", "c"]}).status_code == 200


def test_unknown_routes_and_verbs_answer_json(client: TestClient) -> None:
    assert client.get("/nope").json() == {"error": "Not Found", "status": 404}
    assert client.get("/explain").status_code == 405


def test_metadata_lists_labels_methods_and_kept_heads(client: TestClient, explainer: Explainer) -> None:
    data = client.get("/metadata").json()
    assert data["methods"] == list(explainer.methods) and data["default_method"] == "mask-lrp"
    assert data["labels"] == {str(i): n for i, n in explainer.labels.items()}
    heads = data["head_mask"]
    assert (heads["layers"], heads["heads"]) == (explainer.manifest.num_layers, explainer.manifest.num_heads)
    mask = explainer.manifest.default_head_mask
    assert heads["kept"] == [[layer, h] for layer, row in enumerate(mask) for h, v in enumerate(row) if v > 0.5]
    assert data["limits"]["max_texts"] == LIMITS.max_texts


def test_openapi_describes_the_endpoints_with_this_models_methods(client: TestClient, explainer: Explainer) -> None:
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert {"/explain", "/health", "/metadata"} <= set(document["paths"])
    request = document["components"]["schemas"]["ExplainRequest"]
    assert request["properties"]["method"]["enum"] == list(explainer.methods)
    assert set(document["paths"]["/explain"]["post"]["responses"]) >= {"200", "400", "413", "422", "503"}
