"""The server under a memory budget and through its life: 413 for a text the budget cannot hold, requests of a
client that went away dropped, and draining (503, ``/health`` says so) that answers every accepted request."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from starlette.testclient import TestClient

from onnxplain.errors import UserError
from onnxplain.runtime import Explainer
from onnxplain.runtime.disconnects import CancelOnDisconnect
from onnxplain.runtime.draining import Drain, DrainMiddleware
from onnxplain.runtime.microbatch import MicroBatcher
from onnxplain.runtime.server import create_app
from onnxplain.runtime.server_limits import ServerLimits

LONG = "The plot meanders for two hours and the ending makes no sense at all. " * 25  # about 380 tokens
SHORT = "dull"


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONNXPLAIN_CACHE", str(tmp_path_factory.getbasetemp() / "memory-cache"))


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="measuring memory needs Linux /proc")
def test_a_text_too_large_for_the_budget_gets_413_and_the_rest_is_served(
    long_artifact: Path, memory_measuring: str
) -> None:
    probed = Explainer.load(long_artifact)
    model = probed.memory.working_memory("mask-lrp")
    assert model is not None
    tokens = len(probed.tokenize(LONG)[0])
    limits = ServerLimits()
    budget = limits.queue_bytes(probed.max_length) + (model.bytes(1, tokens) + model.bytes(1, 8)) // 2
    explainer = Explainer.load(long_artifact, memory_budget=budget)
    with TestClient(create_app(explainer, limits)) as client:
        refused = client.post("/explain", json={"texts": [SHORT, LONG]})
        assert refused.status_code == 413
        assert f"text 1 has {tokens} tokens" in refused.json()["error"] and "memory budget" in refused.json()["error"]
        served = client.post("/explain", json={"texts": [SHORT, SHORT + " film"]})
        assert served.status_code == 200 and len(served.json()["results"]) == 2
        memory = client.get("/metadata").json()["memory"]
        assert memory["budget"]["bytes"] == budget and "mask-lrp" in memory["working_memory"]
        assert memory["reserved_bytes"] == limits.queue_bytes(probed.max_length)


def test_a_budget_too_small_for_the_request_queue_is_refused_at_start(tiny_artifact: Path) -> None:
    explainer = Explainer.load(tiny_artifact, memory_budget="8MiB")
    with pytest.raises(UserError, match="leaves nothing for explanations once .* the request queue"):
        create_app(explainer, ServerLimits())


def test_a_draining_server_refuses_new_requests_and_says_so(tiny_artifact: Path) -> None:
    explainer = Explainer.load(tiny_artifact, memory_budget="unlimited")
    app = create_app(explainer, ServerLimits())
    with TestClient(app) as client:
        assert client.get("/health").json()["status"] == "ok"
        app.state.drain.begin()
        refused = client.post("/explain", json={"text": SHORT})
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert "shutting down" in refused.json()["error"]
        health = client.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "draining"
        assert client.get("/v2/health/live").status_code == 200


def slow_app(release: asyncio.Event, cancelled: list[str]) -> Any:
    """An ASGI app that answers 200 once ``release`` is set (and notes it if cancelled before)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        while (await receive()).get("more_body", False):
            pass
        try:
            await release.wait()
        except asyncio.CancelledError:
            cancelled.append(scope["path"])
            raise
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def test_draining_finishes_every_accepted_request_and_refuses_the_rest() -> None:
    async def scenario() -> tuple[int, int, bool]:
        release, cancelled, drain = asyncio.Event(), [], Drain()
        transport = httpx.ASGITransport(app=DrainMiddleware(slow_app(release, cancelled), drain))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            accepted = asyncio.ensure_future(client.post("/explain", content=b"{}"))
            await asyncio.sleep(0.05)
            finishing = asyncio.ensure_future(drain.finish(timeout=10))
            await asyncio.sleep(0.05)
            late = await client.post("/explain", content=b"{}")
            assert not finishing.done()  # the accepted request is still running
            release.set()
            return (await accepted).status_code, late.status_code, await finishing

    assert asyncio.run(scenario()) == (200, 503, True)


def test_a_request_still_running_at_the_drain_timeout_gets_a_503_that_says_why() -> None:
    async def scenario() -> tuple[httpx.Response, bool, list[str]]:
        release, cancelled, drain = asyncio.Event(), [], Drain()
        transport = httpx.ASGITransport(app=DrainMiddleware(slow_app(release, cancelled), drain))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            stuck = asyncio.ensure_future(client.post("/explain", content=b"{}"))
            await asyncio.sleep(0.05)
            finished = await drain.finish(timeout=0.2)
            return await stuck, finished, cancelled

    response, finished, cancelled = asyncio.run(scenario())
    assert not finished and cancelled == ["/explain"]
    assert response.status_code == 503 and "drain timeout" in response.json()["error"]


def test_a_client_that_disconnects_cancels_its_handler() -> None:
    async def scenario() -> list[str]:
        release, cancelled = asyncio.Event(), []
        messages = [{"type": "http.request", "body": b"{}", "more_body": False}, {"type": "http.disconnect"}]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            await asyncio.sleep(0.05)
            return messages.pop(0)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "path": "/explain", "method": "POST", "headers": []}
        await asyncio.wait_for(CancelOnDisconnect(slow_app(release, cancelled))(scope, receive, send), 5)
        assert sent == []
        return cancelled

    assert asyncio.run(scenario()) == ["/explain"]


def test_texts_of_a_client_gone_before_their_call_are_never_explained() -> None:
    started, release = threading.Event(), threading.Event()
    explained: list[list[str]] = []

    def explain(texts: list[Any], method: str, targets: np.ndarray) -> list[Any]:
        explained.append(list(texts))
        started.set()
        release.wait(10)
        return list(texts)

    async def scenario() -> MicroBatcher:
        batcher = MicroBatcher(explain, max_batch=8, max_wait=0.0)
        await batcher.start()
        first = asyncio.ensure_future(batcher.explain(["first"], "mask-lrp", np.array([-1])))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)  # the worker is busy
        gone = asyncio.ensure_future(batcher.explain(["gone"], "mask-lrp", np.array([-1])))
        await asyncio.sleep(0.05)
        gone.cancel()  # what CancelOnDisconnect does to its handler
        await asyncio.sleep(0.05)
        release.set()
        assert await first == ["first"]
        assert await batcher.explain(["after"], "mask-lrp", np.array([-1])) == ["after"]
        await batcher.stop()
        return batcher

    batcher = asyncio.run(scenario())
    assert explained == [["first"], ["after"]] and batcher.queued == 0


class TextCost:
    """A call costs batch x longest: the budget allows ``budget`` token slots per call (``CallCost``)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget

    def measured(self, method: str) -> bool:
        return True

    def working_memory(self, method: str) -> object:
        return None

    def check(self, lengths: Any, method: str, what: str = "text") -> None:
        return None

    def fits_one_call(self, lengths: Any, method: str, max_batch: int) -> bool:
        return len(lengths) <= max_batch and len(lengths) * max(lengths) <= self.budget


def test_calls_are_formed_within_the_budget_and_every_request_gets_its_own_results() -> None:
    calls: list[list[str]] = []

    def explain(texts: list[Any], method: str, targets: np.ndarray) -> list[Any]:
        calls.append(list(texts))
        return [f"{method}:{text}" for text in texts]

    def prepare(items: list[Any]) -> tuple[list[Any], list[int]]:
        return items, [len(text) for text in items]

    async def scenario() -> list[list[str]]:
        batcher = MicroBatcher(explain, max_batch=8, max_wait=0.01, prepare=prepare, cost=TextCost(budget=40))
        await batcher.start()
        texts = ["x" * 20, "y" * 20, "z" * 20, "a", "b", "c", "d" * 2, "e" * 19]
        methods = ["mask-lrp", "attnlrp"]
        answers = await asyncio.gather(
            *(batcher.explain([t], methods[i % 2], np.array([-1])) for i, t in enumerate(texts))
        )
        await batcher.stop()
        assert answers == [[f"{methods[i % 2]}:{t}"] for i, t in enumerate(texts)]
        return calls

    for call in asyncio.run(scenario()):
        assert len(call) * max(len(t) for t in call) <= 40
