"""The HTTP server in-process: the Python API's JSON, every bad input refused clearly, and still up after."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from starlette.testclient import TestClient

from onnxplain.runtime import Explainer
from onnxplain.runtime.server import body_limit, create_app, request_checker
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
    own = {"texts": [texts[0], {"text": texts[1], "target": 0}], "target": label}
    per_text = client.post("/explain", json=own)
    assert [r["target"] for r in per_text.json()["results"]] == [label, explainer.labels[0]]
    whole_number = client.post("/explain", json={"text": texts[1], "target": 1.0})  # JSON Schema: an integer
    assert whole_number.status_code == 200 and whole_number.json()["results"][0]["target"] == explainer.labels[1]


BAD = [
    (b"{not json", 400, "not valid JSON"),
    (b"\xff\xfe", 400, "not valid JSON"),
    (b'{"text": NaN}', 400, "not valid JSON"),
    (b'{"text": "\\ud800"}', 400, "unpaired surrogate"),
    (b"[1, 2]", 422, "JSON object"),
    (b"{}", 422, "does not say what to explain"),
    (b'{"question": "who?", "context": "varda"}', 422, "this model explains texts"),
    (b'{"text": "a", "texts": ["b"]}', 422, "mixes two forms"),
    (b'{"texts": []}', 422, "texts is an empty list"),
    (b'{"texts": "one string"}', 422, "texts is a string, not a list"),
    (b'{"text": ""}', 422, "text is empty"),
    (b'{"texts": ["fine", "  "]}', 422, "texts[1] is empty"),
    (b'{"text": 42}', 422, "text is a number, not a string"),
    (b'{"texts": [{"txt": "a"}]}', 422, "unknown field(s) txt in texts[0]"),
    (b'{"text": "fine", "method": "nope"}', 422, "unknown method 'nope'"),
    (b'{"text": "fine", "target": "nope"}', 422, "unknown label 'nope'"),
    (b'{"text": "fine", "target": 99}', 422, "unknown label 99"),
    (b'{"text": "fine", "target": 45.0}', 422, "unknown label 45;"),
    (b'{"text": "fine", "target": 1.5}', 422, "unknown label 1.5"),
    (b'{"text": "fine", "target": true}', 422, "target is a boolean"),
    (b'{"texts": ["a", {"text": "b", "target": "nope"}]}', 422, "unknown label 'nope'"),
    (b'{"texts": ["a", "b"], "target": [0, 1]}', 422, "target is a list"),
    (b'{"text": "fine", "colour": "red"}', 422, "unknown field(s) colour"),
    (json.dumps({"text": "x" * 201}).encode(), 413, "text has 201 characters, more than the 200 allowed"),
    (json.dumps({"texts": ["a"] * 5}).encode(), 413, "more than the 4 allowed"),
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


def test_a_body_over_the_limit_is_refused_before_it_is_read(client: TestClient, explainer: Explainer) -> None:
    limit = body_limit(explainer, LIMITS)
    response = client.post("/explain", content=b" " * (limit + 1), headers={"content-type": "application/json"})
    assert response.status_code == 413 and f"more than the {limit} accepted" in response.json()["error"]
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
    response = client.get("/explain")
    assert response.status_code == 405 and response.headers["allow"] == "POST"  # RFC 9110: 405 says what is
    assert response.json() == {"error": "GET is not allowed on /explain; use POST", "status": 405}
    assert set(client.delete("/health").headers["allow"].split(", ")) == {"GET", "HEAD"}


def test_metadata_lists_labels_methods_and_kept_heads(client: TestClient, explainer: Explainer) -> None:
    data = client.get("/metadata").json()
    assert data["methods"] == list(explainer.methods) and data["default_method"] == "mask-lrp"
    assert data["labels"] == {str(i): n for i, n in explainer.labels.items()}
    heads = data["head_mask"]
    assert (heads["layers"], heads["heads"]) == (explainer.manifest.num_layers, explainer.manifest.num_heads)
    mask = explainer.manifest.default_head_mask
    assert heads["kept"] == [[layer, h] for layer, row in enumerate(mask) for h, v in enumerate(row) if v > 0.5]
    assert data["limits"]["max_texts"] == LIMITS.max_texts
    assert data["precision"] == "fp32" and data["not_recommended"] == {}  # fp32: every method as exported


def test_openapi_describes_the_endpoints_with_this_models_methods(client: TestClient, explainer: Explainer) -> None:
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert {"/explain", "/health", "/metadata", "/openapi.json"} <= set(document["paths"])
    request = document["components"]["schemas"]["ExplainRequest"]
    for form in request["oneOf"]:
        assert form["properties"]["method"]["enum"] == list(explainer.methods)
    assert request["oneOf"][1]["properties"]["texts"]["maxItems"] == LIMITS.max_texts
    assert set(document["paths"]["/explain"]["post"]["responses"]) >= {"200", "400", "413", "422", "503"}


def test_the_published_schema_is_the_one_that_validates(client: TestClient, explainer: Explainer) -> None:
    """One source: the request schema in /openapi.json is the document the server validates bodies with."""
    published = client.get("/openapi.json").json()["components"]["schemas"]["ExplainRequest"]
    assert request_checker(explainer, LIMITS).validator.schema == published
    Draft202012Validator.check_schema(published)
    result = client.post("/explain", json={"text": "fine"}).json()["results"][0]
    Draft202012Validator(client.get("/openapi.json").json()["components"]["schemas"]["Explanation"]).validate(result)
