"""Soak: ``onnxplain serve`` under a memory budget takes a minute of mixed load from 32 clients (short texts,
long texts, bad requests, three methods) with every answer right and its memory within the budget plus the
loaded model, then a SIGTERM in the middle of the load loses no request it accepted. Loopback only; bounded
in requests and seconds (about two minutes on 2 cores)."""

from __future__ import annotations

import asyncio
import functools
import time
from pathlib import Path

import pytest

from onnxplain.bench.soak import Server, free_port, mixed_jobs, problems, run_clients
from onnxplain.runtime import Explainer

METHODS = ["mask-lrp", "attnlrp", "grad-input"]
BUDGET = "64MiB"  # about 20 texts of the tiny model's 64 tokens per call, once the server's sessions are held


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="measuring memory needs Linux /proc")
def test_soak_within_the_budget_then_sigterm_answers_every_accepted_request(
    tiny_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONNXPLAIN_CACHE", str(tmp_path / "cache"))
    reference = Explainer.load(tiny_artifact, memory_budget="unlimited")

    @functools.cache
    def expected(text: str, method: str) -> list[float]:
        return [t.relevance for t in reference.explain(text, method=method)[0].tokens]

    arguments = ["--memory-budget", BUDGET, "--drain-timeout", "60", "--max-wait-ms", "5"]
    server = Server(tiny_artifact, free_port(), arguments).start(timeout=300)
    try:
        server.warm_up(METHODS)
        memory = server.get("/metadata")["memory"]
        limit = memory["loaded_model_bytes"] + memory["budget"]["bytes"]
        jobs = mixed_jobs(1200, METHODS, seed=1, long_share=0.3)
        start = time.monotonic()
        outcomes = asyncio.run(run_clients(server.port, jobs, clients=32, seconds=90))
        elapsed = time.monotonic() - start
        assert problems(outcomes, expected) == []
        assert len(outcomes) == len(jobs) or elapsed > 90
        assert {o.job.kind for o in outcomes} == {"short", "long", "bad"}
        assert server.peak_bytes() <= limit, (server.peak_bytes(), limit)

        outcomes, signalled = asyncio.run(server.terminate_under_load(mixed_jobs(3000, METHODS, seed=2), 32, 60, 100))
        assert server.wait(timeout=75) == 0
        assert problems(outcomes, expected, accepted_only=True) == []
        before = [o for o in outcomes if o.sent_at + o.seconds < signalled]
        assert len(before) >= 100 and all(o.status == o.job.status for o in before)
        later = [o for o in outcomes if o.sent_at > signalled]
        assert any(o.status is None for o in later)  # the server stopped listening once drained
        refused = [o.payload for o in later if o.status == 503]
        assert all(p is not None and "shutting down" in p["error"] for p in refused), refused[:3]
        in_flight = [o for o in outcomes if o.sent_at < signalled < o.sent_at + o.seconds]
        assert any(o.status == 200 for o in in_flight)  # accepted before SIGTERM, answered after it
        assert server.memory.peak_bytes <= limit, (server.memory.peak_bytes, limit)
    finally:
        server.stop()
