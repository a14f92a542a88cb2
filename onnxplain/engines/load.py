"""A bounded load of good and bad ``POST /explain`` requests from concurrent clients, with every answer checked.

For the load-and-fault test and ``benchmarks/ray_serve_load.py``: ``count`` requests from ``clients`` threads
against one loopback address, a share of them bad in four ways (empty text, unknown method, a text over the
character limit, a body that is not JSON). Each good request carries a text of its own, so its answer can be
matched to it and compared with the Python ``Explainer``'s. Every request has a timeout and the whole run a
deadline, so it stops by itself. Standard library only (plus numpy for the comparison).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

BAD_KINDS = ("empty text", "unknown method", "too long", "bad json")
EXPECTED_STATUS = {"empty text": 422, "unknown method": 422, "too long": 413, "bad json": 400}


@dataclass(frozen=True)
class Planned:
    index: int
    kind: str  # "good" or one of BAD_KINDS
    body: bytes
    text: str | None = None  # a good request's text


def plan_requests(count: int, bad_every: int, max_text_chars: int) -> list[Planned]:
    """``count`` requests; every ``bad_every``-th is bad, cycling through the four kinds."""
    plans = []
    for index in range(count):
        if index % bad_every == bad_every - 1:
            kind = BAD_KINDS[(index // bad_every) % len(BAD_KINDS)]
            body = {
                "empty text": json.dumps({"text": "  "}).encode(),
                "unknown method": json.dumps({"text": "fine words", "method": "no-such-method"}).encode(),
                "too long": json.dumps({"text": "x" * (max_text_chars + 1)}).encode(),
                "bad json": b'{"text": "unterminated',
            }[kind]
            plans.append(Planned(index, kind, body))
        else:
            text = f"Review {index}: the film is {('good', 'dull', 'moving', 'long')[index % 4]} and honest."
            plans.append(Planned(index, "good", json.dumps({"text": text}).encode(), text))
    return plans


@dataclass
class Outcome:
    planned: Planned
    status: int | None  # None: no answer (connection failed or timed out)
    body: bytes
    seconds: float
    started: float  # time.monotonic() when it was sent


@dataclass
class LoadReport:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        return dict(Counter(f"{o.planned.kind}: {o.status}" for o in self.outcomes))

    def in_flight_at(self, moment: float) -> list[Outcome]:
        """The requests sent before ``moment`` (time.monotonic()) and answered after it."""
        return [o for o in self.outcomes if o.started <= moment <= o.started + o.seconds]

    def latencies(self, kind: str = "good", status: int = 200) -> np.ndarray:
        return np.asarray([o.seconds for o in self.outcomes if o.planned.kind == kind and o.status == status])


def send(host: str, port: int, path: str, body: bytes, timeout: float) -> tuple[int | None, bytes]:
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("POST", path, body=body, headers={"content-type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException) as error:
        return None, f"{type(error).__name__}: {error}".encode()
    finally:
        connection.close()


def run_load(
    host: str,
    port: int,
    plans: list[Planned],
    clients: int,
    timeout: float = 60.0,
    deadline: float = 600.0,
    during: Callable[[int], None] | None = None,
) -> LoadReport:
    """Send ``plans`` from ``clients`` threads; ``during(done)`` is called after each answer (to inject a fault).
    Requests not yet sent when ``deadline`` seconds have passed are recorded as unanswered."""
    report = LoadReport()
    lock = threading.Lock()
    start = time.monotonic()

    def one(plan: Planned) -> None:
        began = time.monotonic()
        if began - start > deadline:
            status, body = None, b"not sent: the run's deadline passed"
        else:
            status, body = send(host, port, "/explain", plan.body, timeout)
        outcome = Outcome(plan, status, body, time.monotonic() - began, began)
        with lock:
            report.outcomes.append(outcome)
            done = len(report.outcomes)
        if during is not None:
            during(done)

    with ThreadPoolExecutor(clients, thread_name_prefix="load-client") as pool:
        list(pool.map(one, plans))
    report.seconds = time.monotonic() - start
    return report


def check(report: LoadReport, expected: dict[str, dict[str, Any]], tolerance: float = 1e-5) -> dict[str, Any]:
    """Sort every outcome: ``correct`` (a good request's own answer, equal to ``expected[text]``, the Python
    explainer's JSON, within ``tolerance`` plus 0.1%), ``refused as expected`` (a bad request's 4xx), ``server
    error with a reason`` (5xx whose body says why), and the failures: ``wrong``, ``unanswered``, ``5xx without
    reason``."""
    tally: Counter[str] = Counter()
    problems: list[str] = []
    for outcome in report.outcomes:
        plan, status = outcome.planned, outcome.status
        if status is None:
            tally["unanswered"] += 1
            problems.append(f"request {plan.index} ({plan.kind}): {outcome.body.decode(errors='replace')}")
        elif status >= 500:
            reason = outcome.body.decode(errors="replace").strip()
            tally["server error with a reason" if reason else "5xx without reason"] += 1
            if not reason:
                problems.append(f"request {plan.index}: {status} with an empty body")
        elif plan.kind == "good":
            ok = status == 200 and _same_answer(json.loads(outcome.body), expected[plan.text or ""], tolerance)
            tally["correct" if ok else "wrong"] += 1
            if not ok:
                problems.append(f"request {plan.index}: {status} {outcome.body[:200]!r}")
        else:
            ok = status == EXPECTED_STATUS[plan.kind] and "error" in json.loads(outcome.body)
            tally["refused as expected" if ok else "wrong"] += 1
            if not ok:
                problems.append(f"request {plan.index} ({plan.kind}): {status} {outcome.body[:200]!r}")
    return {"tally": dict(tally), "problems": problems[:20], "answered": len(report.outcomes)}


def _same_answer(answer: dict[str, Any], expected: dict[str, Any], tolerance: float) -> bool:
    [result] = answer["results"]
    if result["text"] != expected["text"] or result["label"] != expected["label"]:
        return False
    if [t["text"] for t in result["tokens"]] != [t["text"] for t in expected["tokens"]]:
        return False
    got = np.asarray([t["relevance"] for t in result["tokens"]])
    want = np.asarray([t["relevance"] for t in expected["tokens"]])
    return bool(np.allclose(got, want, rtol=1e-3, atol=tolerance))
