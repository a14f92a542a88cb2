"""Load test on loopback: 500 requests from 32 concurrent clients, some bad, against a real uvicorn server.

Every accepted request must get its own correct answer (its texts, its targets, the Python API's relevance);
every bad one its 4xx; none lost or mixed up; and requests that arrive together must share ONNX Runtime calls.
"""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import httpx
import numpy as np

from onnxplain.runtime import Explainer
from onnxplain.runtime.server import create_app
from onnxplain.runtime.server_limits import ServerLimits
from tests.servers import serving

REQUESTS = 500
CLIENTS = 32
MAX_CHARS = 400  # the longest good text has about 330
VOCABULARY = "the film plot cast was truly dull great awful moving charming naïve, slow! but not very".split()


def plan(labels: list[str], seed: int = 0) -> list[dict]:
    """The requests: mostly good (1-3 texts, own targets), every 7th bad in one of several ways."""
    rng = random.Random(seed)
    requests = []
    for number in range(REQUESTS):
        texts = [
            f"review {number}.{k}: " + " ".join(rng.choices(VOCABULARY, k=rng.randint(1, 40)))
            for k in range(rng.choice([1, 1, 1, 2, 3]))
        ]
        targets = [rng.choice([None, *labels]) for _ in texts]
        body: dict | bytes = {
            "texts": [{"text": text, "target": target} for text, target in zip(texts, targets, strict=True)],
            "method": rng.choice(["mask-lrp", "transatt"]),
        }
        status = 200
        if number % 7 == 3:
            body, status = [
                ({"text": " "}, 422),
                ({"text": texts[0], "method": "no-such-method"}, 422),
                ({"text": texts[0], "target": "no-such-label"}, 422),
                (b'{"texts": ["unclosed"', 400),
                ({"text": "x" * (MAX_CHARS + 1)}, 413),
            ][number % 5]
        requests.append({"body": body, "status": status, "texts": texts, "targets": targets})
    return requests


async def send_all(url: str, requests: list[dict]) -> list[tuple[int, dict]]:
    answers: list[tuple[int, dict] | None] = [None] * len(requests)
    pending = iter(range(len(requests)))

    async def client(http: httpx.AsyncClient) -> None:
        for index in pending:
            body = requests[index]["body"]
            content = body if isinstance(body, bytes) else json.dumps(body).encode()
            response = await http.post("/explain", content=content, headers={"content-type": "application/json"})
            answers[index] = (response.status_code, response.json())

    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
        await asyncio.wait_for(asyncio.gather(*(client(http) for _ in range(CLIENTS))), timeout=240)
    assert all(a is not None for a in answers), "a request got no answer"
    return [a for a in answers if a is not None]


def test_500_requests_from_32_clients_each_get_their_own_answer(tiny_artifact: Path) -> None:
    limits = ServerLimits(max_text_chars=MAX_CHARS, max_texts=4, max_queued_texts=4096, max_batch=32)
    explainer = Explainer.load(tiny_artifact, batch_size=limits.max_batch)
    requests = plan(list(explainer.labels.values()))
    with serving(create_app(explainer, limits)) as url:
        answers = asyncio.run(send_all(url, requests))
        health = httpx.get(url + "/health").json()

    good = [(r, a) for r, a in zip(requests, answers, strict=True) if r["status"] == 200]
    for request, (status, data) in zip(requests, answers, strict=True):
        assert status == request["status"], data
        if status != 200:
            assert data["status"] == status and data["error"]
    # the Python API's answers for every accepted text, computed apart from the server
    by_method: dict[str, list[tuple[str, str | None]]] = {}
    for request, _ in good:
        by_method.setdefault(request["body"]["method"], []).extend(
            zip(request["texts"], request["targets"], strict=True)
        )
    reference = {}
    for method, pairs in by_method.items():
        texts, targets = zip(*pairs, strict=True)
        for result in explainer.explain(list(texts), method=method, target=list(targets)):
            reference[(method, result.text, result.target)] = result
    for request, (_, data) in good:
        body = request["body"]
        assert [r["text"] for r in data["results"]] == request["texts"]
        for result, target in zip(data["results"], request["targets"], strict=True):
            assert result["method"] == body["method"]
            assert target is None and result["target"] == result["label"] or result["target"] == target
            expected = reference[(body["method"], result["text"], result["target"])]
            assert result["label"] == expected.label
            relevance = np.array([t["relevance"] for t in result["tokens"]])
            scale = max(float(np.abs(expected.relevance).max()), 1e-12)
            # rollout-based methods add up I + attention in float32, so a batch of other rows (another sum
            # order in the products) moves every value by float32's rounding of 1, about 1e-7: an absolute floor
            np.testing.assert_allclose(relevance, expected.relevance, rtol=1e-4, atol=1e-5 * scale + 3e-7)
    assert health["queued_texts"] == 0
    assert health["batches"] < 0.9 * len(good), f"no micro-batching: {health['batches']} calls"
